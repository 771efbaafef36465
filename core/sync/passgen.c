/*
 * Passphrases for relay groups (docs/relay-protocol.md section 2, docs/relays.md):
 * a relay sees TOKEN, so it can test guesses of the passphrase offline at one
 * Argon2id each.  A generated passphrase is words picked uniformly from the
 * EFF large wordlist (log2(7776) = 12.9 bits a word, 77.5 for six); a typed
 * one is estimated with zxcvbn and refused below DSYNC_PASSPHRASE_MIN_BITS,
 * naming what makes it guessable.
 */
#include "core/base/internal.h"

#include <math.h>
#include <sodium.h>
#include <zxcvbn.h>

#include "core/base/buf.h"
#include "core/sync/passgen.h"
#include "dsync/sync.h"

double dsync_passphrase_generated_bits(unsigned words)
{
	return (words ? words : DSYNC_PASSPHRASE_WORDS) * log2((double)DSYNC_WORDLIST_EFF_SIZE);
}

int dsync_passphrase_generate(char **out, unsigned words)
{
	dsync_buf b = DSYNC_BUF_INIT;
	unsigned i;

	*out = NULL;
	if (words == 0)
		words = DSYNC_PASSPHRASE_WORDS;
	for (i = 0; i < words; i++)
		if (dsync_buf_printf(&b, "%s%s", i ? " " : "",
				     dsync_wordlist_eff[randombytes_uniform(DSYNC_WORDLIST_EFF_SIZE)]) < 0) {
			sodium_memzero(b.ptr, b.len);
			dsync_buf_dispose(&b);
			return dsync_error_oom();
		}
	*out = dsync_buf_detach(&b);
	return *out ? 0 : dsync_error_oom();
}

/* What match M (over PASS) is, in words, into OUT. */
static void describe(char *out, size_t size, const ZxcMatch_t *m, const char *pass)
{
	int len = m->Length > 40 ? 40 : m->Length;

	/* zxcvbn marks a part repeated ("aaaa", "abcabc") by adding MULTIPLE_MATCH */
	if ((int)m->Type & MULTIPLE_MATCH) {
		snprintf(out, size, "repeated characters ('%.*s')", len, pass + m->Begin);
		return;
	}
	switch ((int)m->Type & ~MULTIPLE_MATCH) {
	case DICTIONARY_MATCH:
		snprintf(out, size, "the common word '%.*s'", len, pass + m->Begin);
		break;
	case DICT_LEET_MATCH:
		snprintf(out, size, "the common word '%.*s' with letters swapped for digits or symbols", len,
			 pass + m->Begin);
		break;
	case REPEATS_MATCH:
		snprintf(out, size, "repeated characters ('%.*s')", len, pass + m->Begin);
		break;
	case SEQUENCE_MATCH:
		snprintf(out, size, "a sequence ('%.*s')", len, pass + m->Begin);
		break;
	case SPATIAL_MATCH:
		snprintf(out, size, "keys next to each other ('%.*s')", len, pass + m->Begin);
		break;
	case DATE_MATCH:
	case YEAR_MATCH:
		snprintf(out, size, "a date or year ('%.*s')", len, pass + m->Begin);
		break;
	default:
		snprintf(out, size, "too few characters");
		break;
	}
}

int dsync_passphrase_strength(const char *pass, double *bits_out)
{
	ZxcMatch_t *info = NULL, *m, *big = NULL;
	char what[240], part[160];
	double bits;
	size_t n = strlen(pass);

	bits = ZxcvbnMatch(pass, NULL, &info);
	if (bits_out)
		*bits_out = bits;
	if (bits >= DSYNC_PASSPHRASE_MIN_BITS) {
		ZxcvbnFreeInfo(info);
		return 0;
	}
	/* the longest part that isn't random characters says why */
	for (m = info; m; m = m->Next)
		if (((int)m->Type & ~MULTIPLE_MATCH) != BRUTE_MATCH && (!big || m->Length > big->Length))
			big = m;
	if (!big) {
		snprintf(what, sizeof(what), "it is too short (%zu characters)", n);
	} else {
		describe(part, sizeof(part), big, pass);
		snprintf(what, sizeof(what), "%s %s",
			 (size_t)big->Length * 2 >= n ? "it is mostly" : "it is short, and part of it is", part);
	}
	ZxcvbnFreeInfo(info);
	return dsync_error_set(DSYNC_EUSAGE, "the passphrase is too weak (about %.0f bits): %s; use at least 5 random words "
			       "(or the one dsync offers at a terminal)", bits, what);
}

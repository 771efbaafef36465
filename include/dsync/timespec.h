/*
 * dsync — time specifications: "2 hours ago", "yesterday", "last monday",
 * ISO dates and times, "@EPOCH".
 */
#ifndef DSYNC_TIMESPEC_H
#define DSYNC_TIMESPEC_H

#include <stdint.h>

/*
 * Parses SPEC into a point in time (seconds since the epoch, UTC) written to
 * OUT.  NOW is the reference for relative forms (pass time(NULL)); local forms
 * ("yesterday", "2024-03-01 14:00") are read in the local time zone (TZ).
 *
 * Accepted (case-insensitive, surrounding blanks ignored):
 *   now, today, yesterday, tomorrow          (today etc. = local midnight)
 *   N UNIT[s] ago, a/an UNIT ago, N UNIT[s]  (UNIT: second sec s minute min m
 *                                             hour hr h day d week w month
 *                                             year y; months and years
 *                                             calendar-wise)
 *   last WEEKDAY, WEEKDAY                    (midnight of the most recent such
 *                                             day strictly before today)
 *   last week|month|year                     (now minus one of them)
 *   YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS],
 *   YYYY-MM-DDTHH:MM[:SS][.frac][Z|+HH:MM|+HHMM|-HH:MM]
 *   HH:MM[:SS]                               (today, local)
 *   today|yesterday HH:MM[:SS]
 *   @SECONDS                                 (epoch seconds)
 *
 * Returns 0, or DSYNC_EUSAGE with a message naming SPEC when it cannot be
 * read.
 */
int dsync_timespec_parse(int64_t *out, const char *spec, int64_t now);

#endif

# Two devices syncing through an ssh host and a third joining from it, for
# the sftp:// tests (sourced after lib.sh, synclib.sh and sshlib.sh; the
# test sets $PASS, a passphrase file).
#
#   store_clean "what" DIR  the store's files on the host are 0600, its
#                           folders 0700, no temporary file is left
#   sync_through TAG MODE URL_A URL_B URL_C NORM HOSTDIR
#       devices A-TAG and B-TAG (own HOMEs whose .ssh links to $HOME/.ssh)
#       init, add the store by URL_A (made on the host: HOSTDIR, mode 0700)
#       and URL_B, both listed as NORM; sync with edits on both sides until
#       one head; C-TAG joins by URL_C (listed as given); equal trees,
#       `dsync check --read-data` on all three, store_clean HOSTDIR. The ssh
#       client is DSYNC_SSH=MODE (openssh or builtin).

store_clean() {
	local what=$1 dir=$2
	check "$what: files there (blobs, keys, manifests)" "$(find "$dir" -type f | wc -l)" -ge 4
	check "$what: every file is mode 0600" -z "$(find "$dir" -type f ! -perm 0600)"
	check "$what: every folder is mode 0700" -z "$(find "$dir" -type d ! -perm 0700)"
	check "$what: no temporary file left" -z "$(find "$dir" -name '*.tmp-*')"
}

sync_through() {
	local tag=$1 mode=$2 url_a=$3 url_b=$4 url_c=$5 norm=$6 hostdir=$7
	local a=A-$1 b=B-$1 c=C-$1 d
	export DSYNC_SSH=$mode
	for d in "$a" "$b" "$c"; do
		mkdir -p "$TMP/home-$d"
		ln -sfn "$HOME/.ssh" "$TMP/home-$d/.ssh"
	done
	mkdir -p "$TMP/$a/docs" "$TMP/$b"
	echo "A's notes" > "$TMP/$a/notes.txt"
	echo "a doc" > "$TMP/$a/docs/a.md"
	head -c 300000 /dev/urandom > "$TMP/$a/docs/data.bin"
	echo "B's list" > "$TMP/$b/list.txt"
	ok "$tag: A init" as "$a" init "$TMP/$a" --device-name alpha
	ok "$tag: B init" as "$b" init "$TMP/$b" --device-name beta

	ok "$tag: A remote add $url_a (a new store)" \
		on "$a" remote add origin "$url_a" --passphrase-file "$PASS"
	contains "... it says it made a store there, by the normalised URL" "$TMP/out" \
		"created an encrypted store at $norm and added it as 'origin'"
	check "... the folder was made on the host (mkdir -p), mode 0700" \
		"$(stat -c %a "$hostdir" 2> /dev/null)" = 700
	ok "$tag: A remote list" on "$a" remote list
	contains "... names the normalised URL $norm" "$TMP/out" "origin	$norm"

	ok "$tag: B remote add $url_b" on "$b" remote add origin "$url_b" --passphrase-file "$PASS"
	contains "... it says it added the store, by the normalised URL" "$TMP/out" "added 'origin' ($norm)"
	ok "$tag: B remote list" on "$b" remote list
	contains "... names the same normalised URL" "$TMP/out" "origin	$norm"
	fails 1 "$tag: B remote add refuses the same store under another name" \
		on "$b" remote add again "$url_a" --passphrase-file "$PASS"
	contains "... because it is origin already" "$TMP/err" "is remote 'origin' of this folder already"

	ok03 "$tag: A sync (push)" on "$a" sync
	ok03 "$tag: B sync (fetch A's, push B's)" on "$b" sync
	ok03 "$tag: A sync (fetch B's)" on "$a" sync
	# edits on both sides, files apart: no conflict
	echo "A's notes, v2" > "$TMP/$a/notes.txt"
	rm "$TMP/$a/docs/a.md"
	echo "B's list, v2" > "$TMP/$b/list.txt"
	mkdir -p "$TMP/$b/new"
	head -c 100000 /dev/urandom > "$TMP/$b/new/b.bin"
	ok03 "$tag: A sync after edits" on "$a" sync
	ok03 "$tag: B sync after edits" on "$b" sync
	ok03 "$tag: A sync again" on "$a" sync
	check "$tag: A and B have the same head" "$(head_id "$TMP/$a")" = "$(head_id "$TMP/$b")"
	check "$tag: A and B hold the same files" "$(files_digest "$TMP/$a")" = "$(files_digest "$TMP/$b")"
	check "$tag: ... all four of them" "$(files_digest "$TMP/$a" | wc -l)" = 4

	ok "$tag: C joins from $url_c" \
		as "$c" join "$url_c" "$TMP/$c" --device-name gamma --passphrase-file "$PASS"
	check "$tag: C holds the same files as A" "$(files_digest "$TMP/$c")" = "$(files_digest "$TMP/$a")"
	check "$tag: C has A's head" "$(head_id "$TMP/$c")" = "$(head_id "$TMP/$a")"
	ok "$tag: C remote list" on "$c" remote list
	contains "... names the URL C joined by" "$TMP/out" "	$url_c"
	for d in "$a" "$b" "$c"; do
		ok "$tag: $d: dsync check --read-data" on "$d" check --read-data
	done
	store_clean "$tag: the store on the host" "$hostdir"
	unset DSYNC_SSH
}

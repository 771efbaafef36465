/*
 * Preparing an object for a local pack (packw.h): its id, and its entry's
 * zlib stream, deflated or stored.  Runs on any thread.
 *
 * The id is git's, SHA-1 of "TYPE SIZE\0" and the bytes, hashed with the
 * CPU's SHA instructions (core/base/sha1.c): libgit2's collision-detecting
 * SHA-1DC took half of a first snapshot's CPU.  A crafted collision only
 * does harm when it makes an object look already stored; dsync_packw_add()
 * hashes every such object again with SHA-1DC before it drops it.
 */
#include "core/base/internal.h"

#include "core/base/packw.h"
#include "core/base/packw_int.h"
#include "core/base/zcomp.h"

static int obj_room(dsync_packw_obj *o, size_t need)
{
	unsigned char *z;

	if (need <= o->zcap)
		return 0;
	if ((z = realloc(o->z, need)) == NULL)
		return dsync_error_oom();
	o->z = z;
	o->zcap = need;
	return 0;
}

/* KNOWN: the id libgit2 computed; else CHECKED: computed by libgit2 here. */
static int prepare(dsync_packw_obj *o, git_object_t type, const void *data, size_t len, const git_oid *known,
		   bool checked)
{
	dsync_zcomp *zc;
	size_t n;
	int error;

	if (type != GIT_OBJECT_BLOB && type != GIT_OBJECT_TREE && type != GIT_OBJECT_COMMIT &&
	    type != GIT_OBJECT_TAG)
		return dsync_error_set(DSYNC_EUSAGE, "cannot pack an object of type %d", (int)type);
	if (len > DSYNC_PACKW_MAX_OBJECT)
		return dsync_error_set(DSYNC_EUSAGE, "cannot pack an object of %zu bytes", len);
	if (known)
		o->id = *known;
	else if (!checked)
		dsync_sha1_object(o->id.id, git_object_type2string(type), data, len);
	else if ((error = git_odb_hash(&o->id, data, len, type)) < 0)
		return dsync_error_git(error, "cannot hash an object");
	o->checked = known != NULL || checked;
	o->type = type;
	o->size = len;
	if ((zc = dsync_zcomp_thread()) == NULL)
		return dsync_error_oom();
	if ((error = obj_room(o, dsync_zcomp_bound(len))) < 0)
		return error;
	n = dsync_zcomp_write(zc, dsync_zcomp_choose(zc, data, len, false), o->z, data, len);
	o->zlen = n;
	return 0;
}

int dsync_packw_prepare__(dsync_packw_obj *o, git_object_t type, const void *data, size_t len, const git_oid *known)
{
	return prepare(o, type, data, len, known, false);
}

int dsync_packw_prepare(dsync_packw_obj *o, git_object_t type, const void *data, size_t len)
{
	return prepare(o, type, data, len, NULL, false);
}

int dsync_packw_prepare_checked(dsync_packw_obj *o, git_object_t type, const void *data, size_t len)
{
	return prepare(o, type, data, len, NULL, true);
}

void dsync_packw_obj_dispose(dsync_packw_obj *o)
{
	free(o->z);
	memset(o, 0, sizeof(*o));
}

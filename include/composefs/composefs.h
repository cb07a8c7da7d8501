/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Umbrella header of the composefs-c library: include this one. */
#ifndef COMPOSEFS_COMPOSEFS_H
#define COMPOSEFS_COMPOSEFS_H

#include <composefs/version.h>
#include <composefs/tree.h>
#include <composefs/dump.h>
#include <composefs/image.h>
#include <composefs/verity.h>
#include <composefs/writer.h>
#include <composefs/store.h>
#include <composefs/objects.h>
#include <composefs/builder.h>
#include <composefs/mount.h>
#include <composefs/repo.h>
#include <composefs/sign.h>
#include <composefs/oci.h>
#include <composefs/fetch.h>

#ifdef __cplusplus
extern "C" {
#endif

/** cfs_version() - the library's version string at run time (e.g. "0.1.0"). */
const char *cfs_version(void);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-info: helpers shared by its source files. */
#ifndef TOOL_INFO_H
#define TOOL_INFO_H

#include <stdbool.h>
#include <stdio.h>

/* Escape like the reference's ls/objects output: \\ \n \r \t, other bytes
 * outside printable ASCII as \xNN; a space is kept only with @keep_space. */
void info_print_escaped(FILE *out, const char *s, bool keep_space);

#endif

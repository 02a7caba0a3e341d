/*
 * hot.h: the code a new isolate runs, from its fork to its end. Internal.
 *
 * A forked child starts with no page-table entries for the program's
 * code: each 64 KiB of it that the child first runs costs a fault that
 * maps it (tens of microseconds on a virtual machine). GCC gathers the
 * functions marked hot in one part of the text section, so a new isolate
 * maps its path through the library in one or two such faults rather
 * than one for every module it passes through.
 */
#ifndef ISO_LIB_HOT_H
#define ISO_LIB_HOT_H

#define ISO_HOT	__attribute__((hot))

#endif

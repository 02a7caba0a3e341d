/*
 * hot.h: the code a new isolate runs, from its fork to its end. Internal.
 *
 * A forked child starts with no page-table entries for the program's
 * code: each 64 KiB of it that the child first runs costs a fault that
 * maps it (tens of microseconds on a virtual machine). GCC gathers the
 * functions marked hot in one part of the text section, so a new isolate
 * maps its path through the library in one or two such faults rather
 * than one for every module it passes through.
 *
 * Which functions: the fork's return in the child (isolate_fork_child,
 * loop_forked) and those callgrind shows a new isolate running from
 * fork_child on (--dump-before=fork_child), for an isolate that makes a
 * port, is sent a message and answers it. The
 * mark goes on the line of the return type. tests/hot_path.sh checks
 * that the marked functions lie together within one 64 KiB window.
 */
#ifndef ISO_LIB_HOT_H
#define ISO_LIB_HOT_H

#define ISO_HOT	__attribute__((hot))

#endif

/*
 * pty.h: a pseudo-terminal for a line-per-item program, shared by the
 * supervisor (--lines, warm compute) and isoctl (map -- CMD). Internal.
 *
 * A pipe is block-buffered by most programs' stdio (mawk's output never
 * comes until its buffer fills); a terminal makes them line-buffered.
 */
#ifndef ISO_LIB_PTY_H
#define ISO_LIB_PTY_H

/*
 * A pseudo-terminal in raw mode (no echo, no line editing, no CR/LF
 * translation either way), all close-on-exec: the master returned
 * (non-blocking), *child the terminal for a command's stdin and stdout,
 * and *own (unless own is NULL) the terminal again, non-blocking, for
 * asking what it holds. The caller owns the descriptors. -1 with errno.
 */
int	 pty_open(int *child, int *own);

#endif

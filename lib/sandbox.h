/*
 * sandbox.h: sandbox profiles (docs/sandbox.md), built in the spawner and
 * taken by a new isolate before its entry or exec. Internal.
 */
#ifndef ISO_LIB_SANDBOX_H
#define ISO_LIB_SANDBOX_H

struct sandbox;

/*
 * The sandbox a profile names ("compute", "noexec", "nonet",
 * "readonly:PATH", or several joined by commas, readonly last): its
 * seccomp program built and its Landlock ruleset made here, in the
 * spawner. NULL with iso_error() (EINVAL: unknown profile or bad PATH;
 * ENOTSUP: the kernel cannot enforce it). Shared: sandbox_ref and
 * sandbox_free count references.
 */
struct sandbox	*sandbox_new(const char *profile);
struct sandbox	*sandbox_ref(struct sandbox *sb);
void		 sandbox_free(struct sandbox *sb);

/* 0, or -1/EINVAL with iso_error() when sb would block the exec that
   starts a program (compute, noexec). */
int		 sandbox_exec_check(const struct sandbox *sb);

/*
 * In a new isolate (exec != 0: about to exec; async-signal-safe only):
 * the SIGSYS handler that leaves the note (not for exec: handlers do not
 * survive it), then Landlock and the seccomp filter. 0, or -1 + errno.
 */
int		 sandbox_child(const struct sandbox *sb, int exec);

/* In a sandboxed process: fn(detail) is called by the SIGSYS handler
   after the note, before the process dies ("blocked system call
   openat"); async-signal-safe calls only. NULL: none. */
void		 sandbox_on_trap(void (*fn)(const char *detail));

/*
 * In an exec'd program that took its note (attr_exec_start), under a
 * seccomp filter: the SIGSYS handler, so that a blocked call is named in
 * the note (the filter survives exec, handlers do not). A no-op without
 * a filter.
 */
void		 sandbox_exec_arm(void);

#endif /* ISO_LIB_SANDBOX_H */

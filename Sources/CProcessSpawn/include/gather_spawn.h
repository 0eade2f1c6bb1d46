#ifndef GATHER_SPAWN_H
#define GATHER_SPAWN_H

#include <sys/types.h>

/// Starts `argv[0]` (searched in PATH when it has no slash) with `envp`, in `cwd` (NULL: the parent's), with
/// stdin, stdout and stderr on `stdin_fd`, `stdout_fd` and `stderr_fd`, in a process group of its own.
///
/// Between fork and exec the child only makes system calls: it asks the kernel to SIGKILL it when the parent
/// dies (PR_SET_PDEATHSIG, checked against a parent that died first), sets RLIMIT_AS to `memory_limit` bytes when
/// it is above 0, and closes every other descriptor. posix_spawn cannot do the first, which is why this exists.
///
/// Returns the child's pid, or -1 with `*error_number` set to the errno of the failed step (an exec failure
/// included: ENOENT for a command that does not exist, EACCES for one that is not executable) and `*error_step`
/// to a short name of it.
pid_t gather_spawn(const char *const argv[], const char *const envp[], const char *cwd, int stdin_fd,
                   int stdout_fd, int stderr_fd, long long memory_limit, int *error_number,
                   const char **error_step);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends no other child inherits (Swift's Glibc does not export pipe2).
int gather_pipe_cloexec(int fds[2]);

#endif

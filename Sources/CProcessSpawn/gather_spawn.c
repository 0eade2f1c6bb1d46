#define _GNU_SOURCE
#include "gather_spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

// What the child reports through the close-on-exec pipe when a step fails: which step, and its errno.
struct failure {
    int step;
    int error_number;
};

static const char *const step_names[] = {"pipe", "fork", "prctl", "setrlimit", "chdir", "dup2", "exec"};

static void fail(int pipe_fd, int step) {
    struct failure failure = {step, errno};
    ssize_t ignored = write(pipe_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

static void close_other_fds(int keep) {
#if defined(__linux__) && defined(SYS_close_range)
    // Everything above stderr except the report pipe.
    if (keep > 3) syscall(SYS_close_range, 3, keep - 1, 0);
    if (syscall(SYS_close_range, keep + 1, ~0U, 0) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 1024); fd++) {
        if (fd != keep) close((int)fd);
    }
}

static pid_t spawn_now(const char *const argv[], const char *const envp[], const char *cwd, int stdin_fd,
                       int stdout_fd, int stderr_fd, long long memory_limit, int *error_number,
                       const char **error_step) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *error_number = errno;
        *error_step = step_names[0];
        return -1;
    }
    pid_t parent = getpid();
    // The signal mask and dispositions the child inherits must be plain, whatever the parent's threads set.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
#ifdef __linux__
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(report[1], 2);
        // The parent may have died before prctl: then nobody would send the signal.
        if (getppid() != parent) _exit(127);
#endif
        if (memory_limit > 0) {
            struct rlimit limit = {(rlim_t)memory_limit, (rlim_t)memory_limit};
            if (setrlimit(RLIMIT_AS, &limit) != 0) fail(report[1], 3);
        }
        if (cwd != NULL && chdir(cwd) != 0) fail(report[1], 4);
        if (dup2(stdin_fd, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) fail(report[1], 5);
        close_other_fds(report[1]);
        execvpe(argv[0], (char *const *)argv, (char *const *)envp);
        fail(report[1], 6);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        *error_number = fork_errno;
        *error_step = step_names[1];
        return -1;
    }
    struct failure failure;
    ssize_t n;
    do {
        n = read(report[0], &failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof failure) {
        // The child never reached exec: reap it here, it has already exited.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        *error_number = failure.error_number;
        *error_step = step_names[failure.step];
        return -1;
    }
    return pid;
}

// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not only the process: a child forked
// from a pool thread that later retires would be killed for nothing. So every fork happens on one thread that
// lives as long as the process.
struct request {
    const char *const *argv;
    const char *const *envp;
    const char *cwd;
    int stdin_fd, stdout_fd, stderr_fd;
    long long memory_limit;
    int error_number;
    const char *error_step;
    pid_t result;
    int done;
};

static pthread_once_t spawner_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t spawner_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spawner_request = PTHREAD_COND_INITIALIZER;
static pthread_cond_t spawner_done = PTHREAD_COND_INITIALIZER;
static struct request *spawner_pending = NULL;

static void *spawner_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&spawner_mutex);
    for (;;) {
        while (spawner_pending == NULL) pthread_cond_wait(&spawner_request, &spawner_mutex);
        struct request *request = spawner_pending;
        pthread_mutex_unlock(&spawner_mutex);
        request->result = spawn_now(request->argv, request->envp, request->cwd, request->stdin_fd,
                                    request->stdout_fd, request->stderr_fd, request->memory_limit,
                                    &request->error_number, &request->error_step);
        pthread_mutex_lock(&spawner_mutex);
        request->done = 1;
        spawner_pending = NULL;
        pthread_cond_broadcast(&spawner_done);
    }
    return NULL;
}

static void spawner_start(void) {
    pthread_t thread;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_create(&thread, &attributes, spawner_main, NULL);
    pthread_attr_destroy(&attributes);
}

pid_t gather_spawn(const char *const argv[], const char *const envp[], const char *cwd, int stdin_fd,
                   int stdout_fd, int stderr_fd, long long memory_limit, int *error_number,
                   const char **error_step) {
    pthread_once(&spawner_once, spawner_start);
    struct request request = {argv, envp, cwd, stdin_fd, stdout_fd, stderr_fd, memory_limit, 0, NULL, -1, 0};
    pthread_mutex_lock(&spawner_mutex);
    while (spawner_pending != NULL) pthread_cond_wait(&spawner_done, &spawner_mutex);
    spawner_pending = &request;
    pthread_cond_signal(&spawner_request);
    while (!request.done) pthread_cond_wait(&spawner_done, &spawner_mutex);
    pthread_mutex_unlock(&spawner_mutex);
    *error_number = request.error_number;
    *error_step = request.error_step;
    return request.result;
}

int gather_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

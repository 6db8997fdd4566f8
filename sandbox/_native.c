/*
 * The fork server's native fast path: fork a sandbox child and make its setup before the
 * request (descriptors, session, namespaces, mounts, work dir, no_new_privs, an empty
 * stdin) in C, in one call from Python.
 *
 * Every Python instruction a freshly forked child runs writes to pages it shares with
 * the zygote (reference counts, allocator pools) and so copies them: the same steps in
 * Python cost a child about two hundred copy-on-write faults. Here they cost none.
 *
 * Plain C, no Python headers: built by setuptools as an (optional) extension and loaded
 * with ctypes.PyDLL, so the GIL is held across the fork, as with os.fork. When it is not
 * built, sandbox/worker.py makes the same steps in Python.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define SANDBOX_NATIVE_ABI 1

struct sandbox_mount {
    const char *source;
    const char *target;
    const char *fstype;
    unsigned long flags;
    const char *data;
};

struct sandbox_plan {
    int abi;
    int pid_ns_fd;             /* the server's own PID namespace; -1: no new PID namespace */
    int fds[4];                /* become 1 stdout, 2 stderr, 3 records, 4 control */
    int unshare_flags;
    int n_mounts;
    const struct sandbox_mount *mounts;
    const char *workdir;
    int no_new_privs;
    int failed_step;           /* out, in the child: 0 or the step that failed */
    int failed_errno;
};

/* Steps; a mount is SANDBOX_STEP_MOUNT + its index. */
enum {
    SANDBOX_STEP_FDS = 1,
    SANDBOX_STEP_UNSHARE = 2,
    SANDBOX_STEP_CHDIR = 3,
    SANDBOX_STEP_NO_NEW_PRIVS = 4,
    SANDBOX_STEP_STDIN = 5,
    SANDBOX_STEP_MOUNT = 100,
};

int sandbox_native_abi(void) { return SANDBOX_NATIVE_ABI; }

static int setup_child(const struct sandbox_plan *plan, int *err)
{
    int moved[4];
    for (int i = 0; i < 4; i++) {
        /* above every target first, so no dup2 below overwrites a source */
        moved[i] = fcntl(plan->fds[i], F_DUPFD_CLOEXEC, 16);
        if (moved[i] < 0)
            goto fds_failed;
    }
    for (int i = 0; i < 4; i++)
        if (dup2(moved[i], i + 1) < 0) /* the copy at 1..4 is inherited across exec */
            goto fds_failed;
    if (syscall(SYS_close_range, 5U, ~0U, 0) != 0) {
        for (long fd = 5, top = sysconf(_SC_OPEN_MAX); fd < top; fd++)
            close((int)fd);
    }
    setsid();
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (plan->unshare_flags && unshare(plan->unshare_flags) != 0) {
        *err = errno;
        return SANDBOX_STEP_UNSHARE;
    }
    for (int i = 0; i < plan->n_mounts; i++) {
        const struct sandbox_mount *m = &plan->mounts[i];
        if (mount(m->source, m->target, m->fstype, m->flags, m->data) != 0) {
            *err = errno;
            return SANDBOX_STEP_MOUNT + i;
        }
    }
    if (chdir(plan->workdir) != 0) {
        *err = errno;
        return SANDBOX_STEP_CHDIR;
    }
    if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        *err = errno;
        return SANDBOX_STEP_NO_NEW_PRIVS;
    }
    int empty = memfd_create("stdin", 0); /* stdin when the request brings none */
    if (empty < 0 || (empty != 0 && (dup2(empty, 0) < 0 || close(empty) != 0))) {
        *err = errno;
        return SANDBOX_STEP_STDIN;
    }
    return 0;

fds_failed:
    *err = errno;
    return SANDBOX_STEP_FDS;
}

/*
 * In the zygote: fork one child, into a PID namespace of its own when plan->pid_ns_fd is
 * set (the zygote's own pid_for_children is restored after the fork). Returns the pid in
 * the zygote (or -errno), 0 in the child, whose setup has then been made; the child finds
 * plan->failed_step (0 or the step that failed) and plan->failed_errno in its copy.
 */
pid_t sandbox_fork(struct sandbox_plan *plan)
{
    if (plan->abi != SANDBOX_NATIVE_ABI)
        return -EINVAL;
    if (plan->pid_ns_fd >= 0) {
        /* reset pid_for_children, then a new PID namespace for the next child only */
        if (setns(plan->pid_ns_fd, CLONE_NEWPID) != 0 || unshare(CLONE_NEWPID) != 0)
            return -errno;
    }
    pid_t pid = fork();
    if (pid == 0) {
        plan->failed_errno = 0;
        plan->failed_step = setup_child(plan, &plan->failed_errno);
        return 0;
    }
    int saved = errno;
    if (plan->pid_ns_fd >= 0)
        setns(plan->pid_ns_fd, CLONE_NEWPID); /* later forks stay out of it */
    return pid < 0 ? -saved : pid;
}

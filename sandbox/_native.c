/*
 * The fork server's native fast path: fork a sandbox child and make its setup before the
 * request (descriptors, session, namespaces, mounts, work dir, no_new_privs, an empty
 * stdin) in C, in one call from Python.
 *
 * Every Python instruction a freshly forked child runs writes to pages it shares with
 * the zygote (reference counts, allocator pools) and so copies them: the same steps in
 * Python cost a child about two hundred copy-on-write faults. Here they cost none.
 *
 * The zygote's loop is here too (sandbox_zygote_serve): after each fork every page the
 * zygote writes is shared with the new child, so a loop in Python would copy a hundred
 * pages of its own per child.
 *
 * Plain C, no Python headers: built by setuptools as an (optional) extension and loaded
 * with ctypes.PyDLL, so the GIL is held across the fork, as with os.fork. When it is not
 * built, sandbox/worker.py makes the same steps in Python.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define SANDBOX_NATIVE_ABI 5
#define SANDBOX_CGROUP_FDS 4

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
    int mnt_ns_fd;             /* a mount namespace to enter first (the compile root); -1: none */
    int fds[4];                /* become 1 stdout, 2 stderr, 3 records, 4 control */
    int cgroup_fds[SANDBOX_CGROUP_FDS]; /* cgroup.procs files the child moves itself into; -1: none */
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
    SANDBOX_STEP_CGROUP = 6,
    SANDBOX_STEP_MNT_NS = 7,
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
    int moved[4], cgroup[SANDBOX_CGROUP_FDS], mnt_ns = -1;
    for (int i = 0; i < 4; i++) {
        /* above every target first, so no dup2 below overwrites a source */
        moved[i] = fcntl(plan->fds[i], F_DUPFD_CLOEXEC, 16);
        if (moved[i] < 0)
            goto fds_failed;
    }
    for (int i = 0; i < SANDBOX_CGROUP_FDS; i++) {
        cgroup[i] = plan->cgroup_fds[i] >= 0 ? fcntl(plan->cgroup_fds[i], F_DUPFD_CLOEXEC, 16) : -1;
        if (plan->cgroup_fds[i] >= 0 && cgroup[i] < 0)
            goto fds_failed;
    }
    if (plan->mnt_ns_fd >= 0 && (mnt_ns = fcntl(plan->mnt_ns_fd, F_DUPFD_CLOEXEC, 16)) < 0)
        goto fds_failed;
    for (int i = 0; i < 4; i++)
        if (dup2(moved[i], i + 1) < 0) /* the copy at 1..4 is inherited across exec */
            goto fds_failed;
    /* With its descriptors in place (a failure below is reported on them): into the run's
     * cgroups, so every page and CPU second of the run is counted there, and into the
     * compile root's mount namespace for a compile step. */
    for (int i = 0; i < SANDBOX_CGROUP_FDS; i++) {
        if (cgroup[i] >= 0 && pwrite(cgroup[i], "0", 1, 0) != 1) {
            *err = errno;
            return SANDBOX_STEP_CGROUP;
        }
    }
    if (mnt_ns >= 0 && setns(mnt_ns, CLONE_NEWNS) != 0) {
        *err = errno;
        return SANDBOX_STEP_MNT_NS;
    }
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


/*
 * In a child, after the request and before any untrusted code: the run's rlimits (when
 * limits is not NULL: CPU soft and hard, address space, file size, open files,
 * processes) with core dumps, locked memory and message queues at zero, then (uid >= 0)
 * no supplementary groups and the slot's uid and gid, real, effective and saved.
 * Returns 0, or 1 (rlimits) or 2 (uid) with errno set.
 */
int sandbox_limit_and_drop(const long *limits, int uid, int gid)
{
    if (limits) {
        const int which[] = {RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_NPROC};
        struct rlimit cpu = {(rlim_t)limits[0], (rlim_t)limits[1]};
        if (setrlimit(RLIMIT_CPU, &cpu) != 0)
            return 1;
        for (int i = 0; i < 4; i++) {
            struct rlimit limit = {(rlim_t)limits[2 + i], (rlim_t)limits[2 + i]};
            if (setrlimit(which[i], &limit) != 0)
                return 1;
        }
        const int zero[] = {RLIMIT_CORE, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE};
        struct rlimit none = {0, 0};
        for (int i = 0; i < 3; i++)
            if (setrlimit(zero[i], &none) != 0)
                return 1;
    }
    if (uid >= 0) {
        if (setgroups(0, NULL) != 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0 ||
            setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
            return 2;
    }
    return 0;
}

/* ------------------------------------------------------------------ the zygote's loop */

#define ZYGOTE_FORK_FDS 4
#define ZYGOTE_MAX_LIVE 256
#define ZYGOTE_MSG_FORKED 1
#define ZYGOTE_MSG_EXITED 2
#define ZYGOTE_CHILD_FAILED 8
#define ZYGOTE_CHILD 16
#define ZYGOTE_MAX_CGROUPS 8

struct sandbox_zygote_entry {
    int key;
    int uid;
    struct sandbox_plan *plan;
};

struct sandbox_zygote {
    int abi;
    int channel;                              /* SOCK_SEQPACKET to the fork server */
    int n_plans;
    struct sandbox_zygote_entry *plans;       /* (/tmp size, uid) -> plan, made by Python */
    struct sandbox_plan *one_off;             /* set by Python for a request with a host work dir */
    /* the request being served: pending while it waits for a plan, the child's own in a child */
    int pending;
    int request_key;
    int request_uid;
    int request_cgroup;                       /* index into cgroup_fds, -1: none */
    int request_fds[ZYGOTE_FORK_FDS];
    char request_workdir[4096];
    struct sandbox_plan *child_plan;          /* in a child: the plan it was made with */
    int child_plan_index;                     /* its index in plans, -1: the one-off plan */
    /* the slot's cgroups: per cgroup, the cgroup.procs files a child writes itself into */
    int n_cgroups;
    int cgroup_fds[ZYGOTE_MAX_CGROUPS][SANDBOX_CGROUP_FDS];
    /* children alive, until reaped */
    int n_live;
    int live_pid[ZYGOTE_MAX_LIVE];
    int live_pidfd[ZYGOTE_MAX_LIVE];
};

static void put_be32(unsigned char *out, int32_t value)
{
    uint32_t be = htobe32((uint32_t)value);
    memcpy(out, &be, 4);
}

static void put_be_double(unsigned char *out, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, 8);
    bits = htobe64(bits);
    memcpy(out, &bits, 8);
}

static int send_forked(int channel, int pid_or_error, int pidfd)
{
    unsigned char message[5];
    message[0] = ZYGOTE_MSG_FORKED;
    put_be32(message + 1, pid_or_error);
    struct iovec iov = {message, sizeof message};
    union {
        char buffer[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (pidfd >= 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buffer;
        msg.msg_controllen = sizeof control.buffer;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &pidfd, sizeof(int));
    }
    return sendmsg(channel, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int reap(struct sandbox_zygote *z, int index)
{
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    int pid = z->live_pid[index];
    while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR)
        ;
    close(z->live_pidfd[index]);
    z->n_live--;
    z->live_pid[index] = z->live_pid[z->n_live];
    z->live_pidfd[index] = z->live_pidfd[z->n_live];
    unsigned char message[1 + 4 + 4 + 8 + 8];
    message[0] = ZYGOTE_MSG_EXITED;
    put_be32(message + 1, pid);
    put_be32(message + 5, status);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    put_be_double(message + 9, cpu);
    put_be_double(message + 17, usage.ru_maxrss / 1024.0);
    return send(z->channel, message, sizeof message, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static void kill_and_reap_all(struct sandbox_zygote *z)
{
    for (int i = 0; i < z->n_live; i++)
        syscall(SYS_pidfd_send_signal, z->live_pidfd[i], SIGKILL, NULL, 0);
    for (int i = 0; i < z->n_live; i++) {
        while (waitpid(z->live_pid[i], NULL, 0) < 0 && errno == EINTR)
            ;
        close(z->live_pidfd[i]);
    }
    z->n_live = 0;
}

static struct sandbox_plan *plan_for(struct sandbox_zygote *z)
{
    if (z->request_workdir[0]) {
        struct sandbox_plan *plan = z->one_off;
        z->one_off = NULL;
        return plan;
    }
    for (int i = 0; i < z->n_plans; i++)
        if (z->plans[i].key == z->request_key && z->plans[i].uid == z->request_uid)
            return z->plans[i].plan;
    return NULL;
}

/* Fork the pending request's child with its plan. 0 in the child, 1 in the zygote. */
static int fork_pending(struct sandbox_zygote *z, struct sandbox_plan *plan)
{
    memcpy(plan->fds, z->request_fds, sizeof plan->fds);
    for (int i = 0; i < SANDBOX_CGROUP_FDS; i++)
        plan->cgroup_fds[i] = z->request_cgroup >= 0 && z->request_cgroup < z->n_cgroups ? z->cgroup_fds[z->request_cgroup][i] : -1;
    z->pending = 0;
    pid_t pid = z->n_live < ZYGOTE_MAX_LIVE ? sandbox_fork(plan) : -EAGAIN;
    if (pid == 0) {
        z->child_plan = plan;
        z->child_plan_index = -1;
        for (int i = 0; i < z->n_plans; i++)
            if (z->plans[i].plan == plan)
                z->child_plan_index = i;
        return 0;
    }
    for (int i = 0; i < ZYGOTE_FORK_FDS; i++)
        close(z->request_fds[i]); /* the child holds them now */
    int pidfd = -1;
    if (pid > 0) {
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
            int error = errno;
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            pid = -error;
        }
    }
    if (pid < 0) {
        send_forked(z->channel, pid, -1);
        return 1;
    }
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    z->live_pid[z->n_live] = pid;
    z->live_pidfd[z->n_live] = pidfd;
    z->n_live++;
    send_forked(z->channel, pid, pidfd);
    return 1;
}

/* Read one request from the server: 1 read, 0 the server is gone, -errno. */
static int read_request(struct sandbox_zygote *z)
{
    unsigned char payload[12 + sizeof z->request_workdir];
    union {
        char buffer[CMSG_SPACE(sizeof(int) * ZYGOTE_FORK_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {payload, sizeof payload};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buffer,
                         .msg_controllen = sizeof control.buffer};
    ssize_t n = recvmsg(z->channel, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 2 : -errno;
    int fds[ZYGOTE_FORK_FDS];
    int n_fds = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
            if (n_fds < ZYGOTE_FORK_FDS)
                fds[n_fds++] = fd;
            else
                close(fd);
        }
    }
    if (n == 0) {
        for (int i = 0; i < n_fds; i++)
            close(fds[i]);
        return 0;
    }
    if (n < 12 || n_fds != ZYGOTE_FORK_FDS || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        for (int i = 0; i < n_fds; i++)
            close(fds[i]);
        send_forked(z->channel, -EINVAL, -1);
        return 2;
    }
    uint32_t key, uid, cgroup;
    memcpy(&key, payload, 4);
    memcpy(&uid, payload + 4, 4);
    memcpy(&cgroup, payload + 8, 4);
    z->request_key = (int)be32toh(key);
    z->request_uid = (int)be32toh(uid);
    z->request_cgroup = (int)be32toh(cgroup);
    size_t length = (size_t)n - 12;
    memcpy(z->request_workdir, payload + 12, length);
    z->request_workdir[length] = 0;
    memcpy(z->request_fds, fds, sizeof fds);
    z->pending = 1;
    return 1;
}

/*
 * In the zygote: serve fork requests until the server is gone. Returns 1 once the
 * server has hung up (every child killed and reaped), 2 when the pending request needs a
 * plan that Python has not made yet (Python makes it and calls again), -errno on a
 * failure; in a forked child ZYGOTE_CHILD + the plan's index in z->plans (ZYGOTE_CHILD - 1
 * for the one-off plan) once its setup is made, or ZYGOTE_CHILD_FAILED when a step of it
 * failed (z->child_plan says which and why). The child's return needs no field read.
 */
int sandbox_zygote_serve(struct sandbox_zygote *z)
{
    if (z->abi != SANDBOX_NATIVE_ABI)
        return -EINVAL;
    struct pollfd fds[1 + ZYGOTE_MAX_LIVE];
    for (;;) {
        if (z->pending) {
            struct sandbox_plan *plan = plan_for(z);
            if (plan == NULL)
                return 2;
            if (fork_pending(z, plan) == 0)
                return plan->failed_step ? ZYGOTE_CHILD_FAILED : ZYGOTE_CHILD + z->child_plan_index;
            continue;
        }
        fds[0].fd = z->channel;
        fds[0].events = POLLIN;
        for (int i = 0; i < z->n_live; i++) {
            fds[1 + i].fd = z->live_pidfd[i];
            fds[1 + i].events = POLLIN;
        }
        int n = z->n_live;
        if (poll(fds, (nfds_t)(1 + n), -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        for (int i = n - 1; i >= 0; i--) /* from the end: reap() moves the last entry into i */
            if (fds[1 + i].revents)
                reap(z, i);
        if (fds[0].revents) {
            int got = read_request(z);
            if (got == 0) {
                kill_and_reap_all(z);
                return 1;
            }
            if (got < 0)
                return got;
        }
    }
}

/**
 * libnsinit's symbols as Deno's FFI declares them, with each one's C signature: the types of
 * `native()` (ffi.ts imports this module for its types only). At run time ffi.ts binds each
 * symbol from its compact table (`SYMBOL_TABLE`), which a test keeps equal to this one: this
 * object literal cost every command ~0.18 ms to load and build (measured), for the two or
 * three symbols a verb binds.
 *
 * @module
 */

/** Every symbol of libnsinit, as `Deno.dlopen` takes them. */
export const SYMBOLS = {
  // int nsi_spawn(const char *helper, const uint8_t *plan, uint32_t len,
  //               const int32_t *fds, int32_t nfds, struct nsi_spawn_out *out)
  nsi_spawn: {
    parameters: ["buffer", "buffer", "u32", "buffer", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int nsi_helper_start(const char *helper, uint64_t clone_flags, struct nsi_helper_out *out)
  nsi_helper_start: { parameters: ["buffer", "u64", "buffer"], result: "i32", nonblocking: true },
  // int nsi_spawn_on(int32_t fd, int32_t helper, const uint8_t *plan, uint32_t len,
  //                  const int32_t *fds, int32_t nfds, struct nsi_spawn_out *out)
  nsi_spawn_on: {
    parameters: ["i32", "i32", "buffer", "u32", "buffer", "i32", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int nsi_helper_stop(int32_t fd, int32_t helper, int32_t early)
  nsi_helper_stop: { parameters: ["i32", "i32", "i32"], result: "i32", nonblocking: true },
  // int nsi_recv(int32_t fd, struct nsi_msg *m, int32_t *fd_out)
  nsi_recv: { parameters: ["i32", "buffer", "buffer"], result: "i32", nonblocking: true },
  // int nsi_send_go(int32_t fd, int32_t pid)
  nsi_send_go: { parameters: ["i32", "i32"], result: "i32" },
  // int nsi_close(int32_t fd)
  nsi_close: { parameters: ["i32"], result: "i32" },
  // int nsi_pidfd_open(int32_t pid)
  nsi_pidfd_open: { parameters: ["i32"], result: "i32" },
  // int nsi_pidfd_signal(int32_t pidfd, int32_t sig)
  nsi_pidfd_signal: { parameters: ["i32", "i32"], result: "i32" },
  // int nsi_kill(int32_t pid, int32_t sig): refuses pid <= 0
  nsi_kill: { parameters: ["i32", "i32"], result: "i32" },
  // int nsi_waitid(int32_t pidfd, int32_t nohang, int32_t out[2])
  nsi_waitid: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  // int nsi_epoll_create(void)
  nsi_epoll_create: { parameters: [], result: "i32" },
  // int nsi_epoll_watch(int32_t ep, int32_t fd, uint32_t events, uint64_t data)
  nsi_epoll_watch: { parameters: ["i32", "i32", "u32", "u64"], result: "i32" },
  // int nsi_epoll_del(int32_t ep, int32_t fd)
  nsi_epoll_del: { parameters: ["i32", "i32"], result: "i32" },
  // int nsi_epoll_wait(int32_t ep, uint64_t *out, int32_t max, int32_t timeout_ms)
  nsi_epoll_wait: {
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int nsi_eventfd(void)
  nsi_eventfd: { parameters: [], result: "i32" },
  // int nsi_eventfd_signal(int32_t fd)
  nsi_eventfd_signal: { parameters: ["i32"], result: "i32" },
  // int nsi_eventfd_drain(int32_t fd)
  nsi_eventfd_drain: { parameters: ["i32"], result: "i32" },
  // int nsi_pipe(int32_t out[2])
  nsi_pipe: { parameters: ["buffer"], result: "i32" },
  // int nsi_open(const char *path, int32_t flags, int32_t mode)
  nsi_open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // int nsi_dup(int32_t fd)
  nsi_dup: { parameters: ["i32"], result: "i32" },
  // int64_t nsi_write(int32_t fd, const uint8_t *buf, uint64_t len)
  nsi_write: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: true },
  // int64_t nsi_read(int32_t fd, uint8_t *buf, uint64_t len) and nsi_write on this thread,
  // for fds in O_NONBLOCK mode (-EAGAIN: wait in native/poller.ts).
  nsi_read_now: { name: "nsi_read", parameters: ["i32", "buffer", "u64"], result: "i64" },
  nsi_write_now: { name: "nsi_write", parameters: ["i32", "buffer", "u64"], result: "i64" },
  // int nsi_init_start(const char *path, int32_t pid, uint64_t start_time, char *err, int32_t cap)
  nsi_init_start: {
    parameters: ["buffer", "i32", "u64", "buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int nsi_init_signal(int32_t pid, uint64_t start_time, int32_t sig): off the event loop,
  // so a CLI kill compiles no fast-call trampoline (the first costs ~0.5 ms, measured).
  nsi_init_signal: { parameters: ["i32", "u64", "i32"], result: "i32", nonblocking: true },
  // int nsi_hook(const char *path, const uint8_t *argv, uint32_t argv_len, const uint8_t *envp,
  //              uint32_t envp_len, const uint8_t *input, uint32_t input_len, int32_t timeout_ms)
  nsi_hook: {
    parameters: ["buffer", "buffer", "u32", "buffer", "u32", "buffer", "u32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // int nsi_send_fd(const char *sock_path, int32_t fd, const char *name)
  nsi_send_fd: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  // int nsi_set_winsize(int32_t fd, int32_t rows, int32_t cols)
  nsi_set_winsize: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int64_t nsi_ns_owner(const char *path, int32_t parent): the owning user namespace's inode
  nsi_ns_owner: { parameters: ["buffer", "i32"], result: "i64" },
  // int nsi_mkfifo(const char *path, int32_t mode)
  nsi_mkfifo: { parameters: ["buffer", "i32"], result: "i32" },
  // int nsi_sizeof_msg(void)
  nsi_sizeof_msg: { parameters: [], result: "i32" },

  // plain processes and fd-passing sockets for the OCI runtime client (lib_proc.c)
  // int nsi_proc_spawn(const char *path, const uint8_t *argv, uint32_t argv_len,
  //                    const uint8_t *envp, uint32_t envp_len, const char *cwd,
  //                    const int32_t *fds, int32_t nfds, int32_t flags, int32_t pdeathsig,
  //                    int32_t out[2] /* pid, pidfd */)
  nsi_proc_spawn: {
    parameters: ["buffer", "buffer", "u32", "buffer", "u32", "buffer", "buffer", "i32", "i32", "i32", "buffer"],
    result: "i32",
  },
  // int nsi_unix_listen(const char *path)
  nsi_unix_listen: { parameters: ["buffer"], result: "i32" },
  // int nsi_unix_recv_fd(int32_t listen_fd, int32_t *fd_out)
  nsi_unix_recv_fd: { parameters: ["i32", "buffer"], result: "i32" },
  // int nsi_unix_connect(const char *path, int32_t seqpacket)
  nsi_unix_connect: { parameters: ["buffer", "i32"], result: "i32" },
  // int nsi_unix_send_fd(int32_t sock, const uint8_t *buf, uint32_t len, int32_t fd)
  nsi_unix_send_fd: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  // int nsi_shutdown_write(int32_t fd)
  nsi_shutdown_write: { parameters: ["i32"], result: "i32" },
  // int nsi_fchown(int32_t fd, int32_t uid, int32_t gid)
  nsi_fchown: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int nsi_set_nonblock(int32_t fd, int32_t on)
  nsi_set_nonblock: { parameters: ["i32", "i32"], result: "i32" },

  // cgroup files in batches (lib_cgfiles.c)
  // int nsi_cg_files(const uint8_t *list, uint32_t len, int32_t *res /* n x {status, stage} */,
  //                  int32_t n, int32_t stop)
  nsi_cg_files: { parameters: ["buffer", "u32", "buffer", "i32", "i32"], result: "i32", nonblocking: true },
  // The same on the calling thread (a batch with nothing else under way, util/busy.ts).
  nsi_cg_files_now: { name: "nsi_cg_files", parameters: ["buffer", "u32", "buffer", "i32", "i32"], result: "i32" },

  // cgroup notifications (lib_events.c)
  // int nsi_cg_event_register(const char *cgroup_dir, const char *control_file, const char *args)
  nsi_cg_event_register: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  // int nsi_ev_poll(int32_t *fds /* n x {fd, events, revents} */, int32_t n, int32_t timeout_ms)
  nsi_ev_poll: { parameters: ["buffer", "i32", "i32"], result: "i32", nonblocking: true },
  // int64_t nsi_ev_counter(int32_t efd): 0 when not signalled
  nsi_ev_counter: { parameters: ["i32"], result: "i64" },
  // int64_t nsi_ev_read(int32_t efd, int32_t cancel_fd, int32_t timeout_ms)
  nsi_ev_read: { parameters: ["i32", "i32", "i32"], result: "i64", nonblocking: true },
  // int nsi_inotify_init(void)
  nsi_inotify_init: { parameters: [], result: "i32" },
  // int nsi_inotify_add(int32_t fd, const char *path, uint32_t mask)
  nsi_inotify_add: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int nsi_inotify_read(int32_t fd, uint32_t *out /* max x {wd, mask} */, int32_t max)
  nsi_inotify_read: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // int nsi_psi_trigger(const char *path, const char *trigger)
  nsi_psi_trigger: { parameters: ["buffer", "buffer"], result: "i32" },

  // Landlock (lib_landlock.c)
  // int nsi_landlock_abi(void): the ABI version, or -ENOSYS / -EOPNOTSUPP
  nsi_landlock_abi: { parameters: [], result: "i32" },

  // cgroup v2 device filter (lib_bpf.c)
  // int nsi_bpf_prog_load_dev(const uint8_t *insns, uint32_t len, const char *license,
  //                           char *log, uint32_t log_size)
  nsi_bpf_prog_load_dev: { parameters: ["buffer", "u32", "buffer", "buffer", "u32"], result: "i32" },
  // int nsi_bpf_prog_query_dev(int32_t cgroup_fd, uint32_t *ids, uint32_t max)
  nsi_bpf_prog_query_dev: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int nsi_bpf_prog_attach_dev(int32_t cgroup_fd, int32_t prog_fd, int32_t replace_fd)
  nsi_bpf_prog_attach_dev: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int nsi_bpf_prog_get_fd(uint32_t prog_id)
  nsi_bpf_prog_get_fd: { parameters: ["u32"], result: "i32" },
  // int nsi_bpf_prog_detach_dev(int32_t cgroup_fd, int32_t prog_fd)
  nsi_bpf_prog_detach_dev: { parameters: ["i32", "i32"], result: "i32" },

  // checkpoint/restore (lib_criu.c)
  // int nsi_seqpacket_pair(int32_t out[2])
  nsi_seqpacket_pair: { parameters: ["buffer"], result: "i32" },
  // int nsi_spawn_fds(const char *path, const uint8_t *argv, uint32_t argv_len,
  //                   const int32_t *fds, int32_t nfds, int32_t out[2] /* pid, pidfd */)
  nsi_spawn_fds: { parameters: ["buffer", "buffer", "u32", "buffer", "i32", "buffer"], result: "i32" },
  // int64_t nsi_recv_packet(int32_t fd, uint8_t *buf, uint64_t len, int32_t *fd_out)
  nsi_recv_packet: { parameters: ["i32", "buffer", "u64", "buffer"], result: "i64", nonblocking: true },
  // int nsi_bind_mount(const char *src, const char *dst)
  nsi_bind_mount: { parameters: ["buffer", "buffer"], result: "i32" },
  // int nsi_umount_detach(const char *path)
  nsi_umount_detach: { parameters: ["buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

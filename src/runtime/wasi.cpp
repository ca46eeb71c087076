#include "runtime/wasi.h"

#include <sys/random.h>
#include <time.h>

#include <chrono>
#include <thread>

namespace pie::runtime {

namespace {

// WASI errno values.
constexpr uint32_t kSuccess = 0;
constexpr uint32_t kBadf = 8;
constexpr uint32_t kInval = 28;
constexpr uint32_t kNosys = 52;
constexpr uint32_t kSpipe = 70;

constexpr uint32_t kStdin = 0;
constexpr uint32_t kStdout = 1;
constexpr uint32_t kStderr = 2;

bool is_stdio(uint32_t fd) {
  return fd <= kStderr;
}

uint64_t now_ns(uint32_t clock_id, bool& ok) {
  clockid_t id;
  switch (clock_id) {
    case 0:
      id = CLOCK_REALTIME;
      break;
    case 1:
      id = CLOCK_MONOTONIC;
      break;
    case 2:  // process CPU time: the guest's own thread is all it may observe
    case 3:
      id = CLOCK_THREAD_CPUTIME_ID;
      break;
    default:
      ok = false;
      return 0;
  }
  timespec ts{};
  clock_gettime(id, &ts);
  ok = true;
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

void args_sizes_get(Guest& g, HostCall& c) {
  g.write_value<uint32_t>(c.u32(0), 0);
  g.write_value<uint32_t>(c.u32(1), 0);
  c.ret(kSuccess);
}

void args_get(Guest&, HostCall& c) {
  c.ret(kSuccess);
}

void clock_res_get(Guest& g, HostCall& c) {
  bool ok = false;
  now_ns(c.u32(0), ok);
  if (!ok) return c.ret(kInval);
  g.write_value<uint64_t>(c.u32(1), 1);
  c.ret(kSuccess);
}

void clock_time_get(Guest& g, HostCall& c) {
  bool ok = false;
  const uint64_t t = now_ns(c.u32(0), ok);
  if (!ok) return c.ret(kInval);
  g.write_value<uint64_t>(c.u32(2), t);
  c.ret(kSuccess);
}

void fd_write(Guest& g, HostCall& c) {
  const uint32_t fd = c.u32(0);
  const uint32_t iovs = c.u32(1);
  const uint32_t count = c.u32(2);
  if (fd != kStdout && fd != kStderr) return c.ret(kBadf);
  uint32_t written = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const std::vector<uint32_t> iov = g.u32s(iovs + 8 * i, 2);
    const std::string_view data = g.text(iov[0], iov[1]);
    if (fd == kStdout) {
      g.write_stdout(data);
    } else {
      g.write_stderr(data);
    }
    written += iov[1];
  }
  g.write_value<uint32_t>(c.u32(3), written);
  c.ret(kSuccess);
}

void fd_read(Guest& g, HostCall& c) {
  if (c.u32(0) != kStdin) return c.ret(kBadf);
  g.write_value<uint32_t>(c.u32(3), 0);  // stdin is always at its end
  c.ret(kSuccess);
}

void fd_close(Guest&, HostCall& c) {
  c.ret(is_stdio(c.u32(0)) ? kSuccess : kBadf);
}

void fd_seek(Guest&, HostCall& c) {
  c.ret(is_stdio(c.u32(0)) ? kSpipe : kBadf);
}

void fd_fdstat_get(Guest& g, HostCall& c) {
  if (!is_stdio(c.u32(0))) return c.ret(kBadf);
  uint8_t stat[24] = {};
  stat[0] = 2;  // character device
  const uint64_t rights = ~uint64_t{0};
  std::memcpy(stat + 8, &rights, 8);
  std::memcpy(stat + 16, &rights, 8);
  g.write(c.u32(1), stat, sizeof stat);
  c.ret(kSuccess);
}

// No preopened directories: wasi-libc stops scanning at the first EBADF.
void fd_prestat_get(Guest&, HostCall& c) {
  c.ret(kBadf);
}

void random_get(Guest& g, HostCall& c) {
  auto buffer = g.bytes(c.u32(0), c.u32(1));
  size_t done = 0;
  while (done < buffer.size()) {
    const ssize_t n = getrandom(buffer.data() + done, buffer.size() - done, 0);
    if (n <= 0) throw Error("no random bytes available");
    done += static_cast<size_t>(n);
  }
  c.ret(kSuccess);
}

void proc_exit(Guest& g, HostCall& c) {
  const uint32_t code = c.u32(0);
  if (code == 0) {
    g.exit = Termination{server::TerminationCode::Normal, g.instance->return_value()};
  } else {
    g.exit = Termination{server::TerminationCode::Exception,
                         "the program exited with code " + std::to_string(code)};
  }
  throw GuestExit{};
}

void sched_yield(Guest&, HostCall& c) {
  std::this_thread::yield();
  c.ret(kSuccess);
}

// Clock subscriptions only (what sleep() uses). Sleeping ends early when the instance is
// terminated.
void poll_oneoff(Guest& g, HostCall& c) {
  const uint32_t in = c.u32(0);
  const uint32_t out = c.u32(1);
  const uint32_t n = c.u32(2);
  if (n == 0) return c.ret(kInval);
  struct Clock {
    uint64_t userdata;
    uint64_t deadline_ns;  // monotonic
  };
  std::vector<Clock> clocks;
  bool ok = false;
  const uint64_t start = now_ns(1, ok);
  for (uint32_t i = 0; i < n; ++i) {
    auto sub = g.bytes(in + 48 * i, 48);
    uint64_t userdata;
    uint32_t clock_id;
    uint64_t timeout;
    uint16_t flags;
    std::memcpy(&userdata, sub.data(), 8);
    if (sub[8] != 0) return c.ret(kNosys);  // fd readiness is not supported
    std::memcpy(&clock_id, sub.data() + 16, 4);
    std::memcpy(&timeout, sub.data() + 24, 8);
    std::memcpy(&flags, sub.data() + 40, 2);
    uint64_t deadline = start + timeout;
    if ((flags & 1) != 0) {  // absolute time on clock_id
      const uint64_t now = now_ns(clock_id, ok);
      if (!ok) return c.ret(kInval);
      deadline = start + (timeout > now ? timeout - now : 0);
    }
    clocks.push_back({userdata, deadline});
  }
  uint64_t earliest = UINT64_MAX;
  for (const auto& clock : clocks) earliest = std::min(earliest, clock.deadline_ns);
  {
    Notifier& notifier = *g.instance->notifier();
    std::unique_lock lock(notifier.mutex);
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::nanoseconds(earliest - start);
    notifier.cv.wait_until(lock, until, [&] {
      return notifier.terminating || std::chrono::steady_clock::now() >= until;
    });
    if (notifier.terminating) throw Error("the instance is being terminated");
  }
  const uint64_t now = now_ns(1, ok);
  uint32_t events = 0;
  for (const auto& clock : clocks) {
    if (clock.deadline_ns > now) continue;
    uint8_t event[32] = {};
    std::memcpy(event, &clock.userdata, 8);
    g.write(out + 32 * events, event, sizeof event);
    ++events;
  }
  g.write_value<uint32_t>(c.u32(3), events);
  c.ret(kSuccess);
}

void not_supported(Guest&, HostCall& c) {
  c.ret(kNosys);
}

#define WASI(name) \
  { kWasiModule, #name, name }
#define WASI_NOSYS(name) \
  { kWasiModule, #name, not_supported }

const HostFunction kFunctions[] = {
    WASI(args_get),
    WASI(args_sizes_get),
    {kWasiModule, "environ_get", args_get},
    {kWasiModule, "environ_sizes_get", args_sizes_get},
    WASI(clock_res_get),
    WASI(clock_time_get),
    WASI_NOSYS(fd_advise),
    WASI_NOSYS(fd_allocate),
    WASI(fd_close),
    WASI_NOSYS(fd_datasync),
    WASI(fd_fdstat_get),
    WASI_NOSYS(fd_fdstat_set_flags),
    WASI_NOSYS(fd_fdstat_set_rights),
    WASI_NOSYS(fd_filestat_get),
    WASI_NOSYS(fd_filestat_set_size),
    WASI_NOSYS(fd_filestat_set_times),
    WASI_NOSYS(fd_pread),
    WASI(fd_prestat_get),
    {kWasiModule, "fd_prestat_dir_name", fd_prestat_get},
    WASI_NOSYS(fd_pwrite),
    WASI(fd_read),
    WASI_NOSYS(fd_readdir),
    WASI_NOSYS(fd_renumber),
    WASI(fd_seek),
    WASI_NOSYS(fd_sync),
    WASI_NOSYS(fd_tell),
    WASI(fd_write),
    WASI_NOSYS(path_create_directory),
    WASI_NOSYS(path_filestat_get),
    WASI_NOSYS(path_filestat_set_times),
    WASI_NOSYS(path_link),
    WASI_NOSYS(path_open),
    WASI_NOSYS(path_readlink),
    WASI_NOSYS(path_remove_directory),
    WASI_NOSYS(path_rename),
    WASI_NOSYS(path_symlink),
    WASI_NOSYS(path_unlink_file),
    WASI(poll_oneoff),
    WASI(proc_exit),
    WASI_NOSYS(proc_raise),
    WASI(random_get),
    WASI(sched_yield),
    WASI_NOSYS(sock_accept),
    WASI_NOSYS(sock_recv),
    WASI_NOSYS(sock_send),
    WASI_NOSYS(sock_shutdown),
};

#undef WASI
#undef WASI_NOSYS

}  // namespace

std::span<const HostFunction> wasi_functions() {
  return kFunctions;
}

}  // namespace pie::runtime

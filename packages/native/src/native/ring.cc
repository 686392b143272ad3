// Ring all-reduce engine (see ring.h). One poll loop over the left socket (reads), the right
// socket (writes) and the cancel descriptor; reads and writes never block, so a slow neighbour on
// one side never stops progress on the other (the ring cannot deadlock on full socket buffers).
#include "ring.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

#include "add.h"

#if defined(__linux__) || defined(__APPLE__)
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#define MTL_RING_POSIX 1
#else
#define MTL_RING_POSIX 0
#endif

namespace mtl {
namespace {

constexpr uint32_t kMagic = 0x434c544d;  // 'MTLC' as a little-endian u32
constexpr uint8_t kVersion = 1;
constexpr size_t kHeader = 32;
constexpr size_t kScratch = 1 << 20;  // summed payloads are read here, then added

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

size_t seg_start(size_t len, size_t parts, size_t k) { return k * (len / parts) + std::min(k, len % parts); }
size_t seg_len(size_t len, size_t parts, size_t k) { return len / parts + (k < len % parts ? 1 : 0); }
size_t chunk_count(size_t len, size_t ce) { return (len + ce - 1) / ce; }
size_t chunk_len(size_t len, size_t ce, size_t c) { return std::min(ce, len - c * ce); }
uint32_t ring_mod(int64_t a, uint32_t n) { return static_cast<uint32_t>(((a % n) + n) % n); }

uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void wr32(uint8_t* p, uint32_t v) {
  p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = v >> 24;
}

#if MTL_RING_POSIX

class Engine {
 public:
  Engine(const RingSpec& s, RingResult& r) : s_(s), r_(r) {}

  void run() {
    const uint32_t n = s_.n;
    steps_ = 2 * n - 2;
    const size_t ce = s_.chunk_elems;
    max_chunks_ = chunk_count((s_.len + n - 1) / n, ce);
    seen_.assign(size_t(steps_) * max_chunks_, 0);
    const uint32_t li = ring_mod(int64_t(s_.i) - 1, n);
    for (uint32_t st = 0; st < steps_; ++st) recv_left_ += chunk_count(seg_len(s_.len, n, ring_mod(int64_t(li) - st, n)), ce);
    const size_t first = chunk_count(seg_len(s_.len, n, s_.i), ce);
    for (size_t c = 0; c < first; ++c) sendq_.push_back({0, static_cast<uint32_t>(c)});
    // One scratch buffer per thread, kept: ring ops run back to back on the same few threads,
    // and a fresh 1 MiB allocation per op would land in per-thread malloc arenas and stay resident.
    thread_local std::vector<uint8_t> scratch;
    if (scratch.size() < kScratch) scratch.resize(kScratch);
    scratch_ = scratch.data();
    reset_header();
    apply_pre();
    if (stopped_) return;

    write_some();
    while (!stopped_ && !done()) {
      if (cancel_requested()) {
        cancel();
        break;
      }
      pollfd fds[3];
      int k = 0, ip = -1, in = -1;
      const bool want_in = recv_left_ > 0;
      const bool want_out = writing_ || !sendq_.empty();
      if (s_.prev_fd == s_.next_fd) {
        fds[k] = {s_.prev_fd, static_cast<short>((want_in ? POLLIN : 0) | (want_out ? POLLOUT : 0)), 0};
        ip = in = k++;
      } else {
        if (want_in) { fds[k] = {s_.prev_fd, POLLIN, 0}; ip = k++; }
        if (want_out) { fds[k] = {s_.next_fd, POLLOUT, 0}; in = k++; }
      }
      const int ic = k;
      fds[k++] = {s_.cancel_fd, POLLIN, 0};
      const int rc = poll(fds, k, -1);
      if (rc < 0) {
        if (errno == EINTR) continue;
        return stop(RingStatus::kInternal, std::string("poll failed: ") + std::strerror(errno));
      }
      if (fds[ic].revents) {
        cancel();
        break;
      }
      if (ip >= 0 && want_in && (fds[ip].revents & (POLLIN | POLLHUP | POLLERR))) read_some();
      if (in >= 0 && !stopped_ && want_out && (fds[in].revents & (POLLOUT | POLLHUP | POLLERR))) write_some();
    }
    if (stopped_ && r_.status != RingStatus::kCancelled) {
      const RingStatus st = r_.status;
      wind_down(st != RingStatus::kNextError, st != RingStatus::kPrevClosed && st != RingStatus::kPrevError &&
                                                  st != RingStatus::kDefect && st != RingStatus::kHandback &&
                                                  st != RingStatus::kRestOverflow);
    }
  }

 private:
  struct Item {
    uint16_t step;
    uint32_t chunk;
  };
  enum class Phase { kHeader, kPayload, kForeign };

  const RingSpec& s_;
  RingResult& r_;
  uint32_t steps_ = 0;
  size_t max_chunks_ = 0;
  std::vector<uint8_t> seen_;
  size_t recv_left_ = 0;
  bool stopped_ = false;

  // Sending: a FIFO of chunks ready to go, the frame being written, and how far it got.
  std::deque<Item> sendq_;
  bool writing_ = false;
  uint8_t wh_[14 + kHeader];
  size_t wh_len_ = 0, wdone_ = 0, wtotal_ = 0, wpayload_ = 0;
  const uint8_t* wdata_ = nullptr;

  // Receiving.
  Phase phase_ = Phase::kHeader;
  uint8_t rh_[14 + kHeader];
  size_t rfill_ = 0, rneed_ = 2, ws_len_ = 0;
  uint64_t flen_ = 0;
  bool masked_ = false, mask_zero_ = true;
  uint8_t mkey_[4] = {0, 0, 0, 0};
  size_t mpos_ = 0;        // mask position of the next payload byte
  uint64_t remaining_ = 0; // payload bytes still to read (this op's frame or a foreign one)
  uint16_t step_ = 0;
  uint32_t chunk_ = 0;
  float* dst_ = nullptr;
  size_t dst_bytes_ = 0, got_ = 0;
  bool add_ = false;
  uint8_t* scratch_ = nullptr;  // kScratch bytes
  size_t sfill_ = 0, sbase_ = 0;  // scratch holds payload bytes [sbase_, sbase_ + sfill_)

  bool done() const { return recv_left_ == 0 && !writing_ && sendq_.empty(); }

  bool cancel_requested() const { return s_.cancelled != nullptr && s_.cancelled->load(std::memory_order_relaxed); }

  void stop(RingStatus st, std::string msg) {
    if (stopped_) return;
    stopped_ = true;
    r_.status = st;
    r_.message = std::move(msg);
  }

  // Cancelled: stop where the streams stay parseable, then report.
  void cancel() {
    wind_down(true, true);
    stopped_ = false;  // an error while winding down is moot: the op is cancelled either way
    stop(RingStatus::kCancelled, "cancelled");
  }

  // Leave both streams at a frame boundary so the JS endpoints (here and at the peers) can go on
  // parsing them and deliver the close frames that say what happened: finish the frame being
  // written; read and drop the rest of this op's frame being read, or hand a partial header
  // back. Bounded: a peer that has died does not hold us for more than ~1 s.
  void wind_down(bool writes, bool reads) {
    sendq_.clear();
    const bool was_stopped = stopped_;
    stopped_ = false;
    for (int idle = 0; idle < 20 && !stopped_;) {
      const bool w = writes && writing_;
      const bool r = reads && phase_ == Phase::kPayload && remaining_ > 0;
      if (!w && !r) break;
      if (w) write_some();
      if (r) drain_some();
      if (stopped_ || (!(writes && writing_) && !(reads && phase_ == Phase::kPayload && remaining_ > 0))) break;
      pollfd p[2];
      int k = 0;
      if (writes && writing_) p[k++] = {s_.next_fd, POLLOUT, 0};
      if (reads && phase_ == Phase::kPayload && remaining_ > 0) p[k++] = {s_.prev_fd, POLLIN, 0};
      if (poll(p, k, 50) == 0) ++idle;
    }
    if (reads && phase_ == Phase::kHeader && rfill_ > 0) {
      r_.rest.insert(r_.rest.end(), rh_, rh_ + rfill_);
      rfill_ = 0;
    }
    stopped_ = was_stopped;
  }

  // Reads and drops payload bytes of the current frame of this op.
  void drain_some() {
    while (remaining_ > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining_, kScratch));
      const ssize_t got = read(s_.prev_fd, scratch_, want);
      if (got > 0) {
        remaining_ -= size_t(got);
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) remaining_ = 0;  // dead: nothing to align
      return;
    }
  }

  // --- sending ----------------------------------------------------------------------------

  void start_frame(const Item& it) {
    const uint32_t n = s_.n;
    const size_t ce = s_.chunk_elems;
    const uint32_t seg = ring_mod(int64_t(s_.i) - it.step, n);
    const size_t sl = seg_len(s_.len, n, seg);
    const size_t off = seg_start(s_.len, n, seg) + size_t(it.chunk) * ce;
    const size_t bytes = chunk_len(sl, ce, it.chunk) * 4;
    const uint64_t L = kHeader + bytes;
    uint8_t* h = wh_;
    size_t p = 0;
    h[p++] = 0x82;  // FIN, binary
    const uint8_t mbit = s_.next_masked ? 0x80 : 0;
    if (L < 126) {
      h[p++] = mbit | static_cast<uint8_t>(L);
    } else if (L < 65536) {
      h[p++] = mbit | 126;
      h[p++] = (L >> 8) & 0xff;
      h[p++] = L & 0xff;
    } else {
      h[p++] = mbit | 127;
      for (int b = 7; b >= 0; --b) h[p++] = (L >> (8 * b)) & 0xff;
    }
    if (mbit) for (int b = 0; b < 4; ++b) h[p++] = 0;  // zero key: nothing to mask
    wr32(h + p, kMagic);
    h[p + 4] = kVersion;
    h[p + 5] = s_.kind;
    h[p + 6] = it.step & 0xff;
    h[p + 7] = it.step >> 8;
    wr32(h + p + 8, s_.group);
    wr32(h + p + 12, s_.seq);
    wr32(h + p + 16, it.chunk);
    wr32(h + p + 20, s_.len);
    wr32(h + p + 24, 0);
    wr32(h + p + 28, static_cast<uint32_t>(bytes));
    wh_len_ = p + kHeader;
    wdata_ = reinterpret_cast<const uint8_t*>(s_.buf + off);
    wpayload_ = bytes;
    wtotal_ = wh_len_ + bytes;
    wdone_ = 0;
    writing_ = true;
  }

  void write_some() {
    while (!stopped_) {
      if (!writing_) {
        if (sendq_.empty() || cancel_requested()) return;
        start_frame(sendq_.front());
        sendq_.pop_front();
      }
      iovec iov[2];
      int cnt = 0;
      if (wdone_ < wh_len_) iov[cnt++] = {wh_ + wdone_, wh_len_ - wdone_};
      const size_t pd = wdone_ > wh_len_ ? wdone_ - wh_len_ : 0;
      if (pd < wpayload_) iov[cnt++] = {const_cast<uint8_t*>(wdata_ + pd), wpayload_ - pd};
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = cnt;
      const ssize_t w = sendmsg(s_.next_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return stop(RingStatus::kNextError, std::string("send failed: ") + std::strerror(errno));
      }
      wdone_ += size_t(w);
      if (wdone_ == wtotal_) {
        writing_ = false;
        r_.frames_sent++;
        r_.payload_sent += wpayload_;
      }
    }
  }

  // --- receiving --------------------------------------------------------------------------

  void reset_header() {
    phase_ = Phase::kHeader;
    rfill_ = 0;
    rneed_ = 2;
  }

  void keep(const uint8_t* p, size_t k) {
    if (r_.rest.size() + k > s_.max_rest) {
      return stop(RingStatus::kRestOverflow,
                  "more than " + std::to_string(s_.max_rest) + " bytes of frames for other ops arrived during the all-reduce");
    }
    r_.rest.insert(r_.rest.end(), p, p + k);
  }

  // Hand the header read so far (and everything after it, still in the socket) back to JS.
  void handback(RingStatus st, std::string msg) {
    keep(rh_, rfill_);
    stop(st, std::move(msg));
  }

  void unmask(uint8_t* p, size_t k) {
    if (!masked_ || mask_zero_) {
      mpos_ += k;
      return;
    }
    for (size_t j = 0; j < k; ++j) p[j] ^= mkey_[(mpos_ + j) & 3];
    mpos_ += k;
  }

  // Validates a frame header of this op (group and seq already match) as AllReduceOp does;
  // returns the defect ("" when none) and the element offset its payload goes to.
  std::string check_own(const uint8_t* h, uint32_t bytes, size_t* off) const {
    const uint8_t kind = h[5];
    const uint16_t step = rd16(h + 6);
    const uint32_t chunk = rd32(h + 16), total = rd32(h + 20), aux = rd32(h + 24);
    const uint32_t n = s_.n;
    const size_t ce = s_.chunk_elems;
    const std::string at = " of step " + std::to_string(step);
    if (kind != s_.kind) return "op kind mismatch: peer runs {kind:" + std::to_string(kind) + "}, this rank runs {op}";
    if (total != s_.len)
      return "element count mismatch in {op}: peer has " + std::to_string(total) + ", this rank has " + std::to_string(s_.len);
    if (aux != 0) return "root mismatch in {op}: peer uses root " + std::to_string(aux) + ", this rank uses 0";
    if (step >= steps_) return "step " + std::to_string(step) + " out of range ({op})";
    const uint32_t seg = ring_mod(int64_t(s_.i) - 1 - step, n);
    const size_t sl = seg_len(s_.len, n, seg);
    if (chunk >= chunk_count(sl, ce))
      return "chunk " + std::to_string(chunk) + " out of range for step " + std::to_string(step) + " ({op})";
    if (seen_[size_t(step) * max_chunks_ + chunk]) return "duplicate chunk " + std::to_string(chunk) + at + " ({op})";
    const size_t elems = chunk_len(sl, ce, chunk);
    *off = seg_start(s_.len, n, seg) + size_t(chunk) * ce;
    if (bytes != elems * 4)
      return "payload of " + std::to_string(bytes) + " bytes, expected " + std::to_string(elems * 4) + " for chunk " +
             std::to_string(chunk) + at + " ({op})";
    return "";
  }

  // Frames of this op that arrived before it began (JS kept them aside): 32-byte header then
  // payload, back to back. Applied as if just received, before anything is read.
  void apply_pre() {
    const uint8_t* p = s_.pre;
    const uint8_t* end = s_.pre + s_.pre_bytes;
    while (p != nullptr && p + kHeader <= end && !stopped_) {
      const uint32_t bytes = rd32(p + 28);
      if (uint64_t(end - p - kHeader) < bytes) return stop(RingStatus::kInternal, "truncated early frames");
      size_t off = 0;
      const std::string defect = check_own(p, bytes, &off);
      if (!defect.empty()) return stop(RingStatus::kDefect, defect);
      const uint16_t step = rd16(p + 6);
      const uint32_t chunk = rd32(p + 16);
      seen_[size_t(step) * max_chunks_ + chunk] = 1;
      if (step < s_.n - 1) {
        add_into(s_.buf + off, reinterpret_cast<const float*>(p + kHeader), bytes / 4);
      } else if (bytes > 0) {
        std::memcpy(s_.buf + off, p + kHeader, bytes);
      }
      step_ = step;
      chunk_ = chunk;
      dst_bytes_ = bytes;
      frame_done();
      p += kHeader + bytes;
    }
  }

  // XORs the 32-byte frame header with the mask key: unmasks it, or (again) restores the raw
  // bytes before they go back to JS, which unmasks them itself.
  void flip_header_mask(uint8_t* h) {
    if (masked_ && !mask_zero_) for (size_t j = 0; j < kHeader; ++j) h[j] ^= mkey_[j & 3];
  }

  // Keeps the header read so far in rest and streams the frame's `payload` bytes after it.
  void keep_frame(uint64_t payload) {
    keep(rh_, rfill_);
    remaining_ = payload;
    phase_ = payload > 0 ? Phase::kForeign : Phase::kHeader;
    rfill_ = 0;
    rneed_ = 2;
  }

  // A complete WebSocket header (and, for data frames, the 32-byte frame header) is in rh_.
  void header_done() {
    const uint8_t b0 = rh_[0];
    const bool fin = (b0 & 0x80) != 0;
    const int opcode = b0 & 0x0f;
    const bool control = opcode >= 8;
    if (rfill_ == ws_len_) {
      // Only the WebSocket header so far: decide what follows.
      const bool ok_data = fin && (b0 & 0x70) == 0 && opcode == 2 && masked_ == s_.prev_masked &&
                           flen_ >= kHeader && flen_ <= s_.max_frame;
      if (ok_data) {
        rneed_ = ws_len_ + kHeader;
        return;
      }
      if (control && (opcode == 9 || opcode == 10) && fin && (b0 & 0x70) == 0 && flen_ <= 125 &&
          masked_ == s_.prev_masked) {
        // Ping / pong: JS answers it after the op; keep it in stream order.
        return keep_frame(flen_);
      }
      return handback(RingStatus::kHandback, opcode == 8 ? "the left neighbour sent a close frame"
                                                         : "a frame the native ring does not handle");
    }
    // Data frame with its 'MTLC' header.
    uint8_t* h = rh_ + ws_len_;
    flip_header_mask(h);
    mpos_ = kHeader;
    const uint32_t bytes = rd32(h + 28);
    const bool sane = rd32(h) == kMagic && h[4] == kVersion && h[5] >= 1 && h[5] <= 4 &&
                      uint64_t(bytes) == flen_ - kHeader && bytes % 4 == 0;
    const uint32_t group = rd32(h + 8), seq = rd32(h + 12);
    if (!sane) {
      flip_header_mask(h);
      return handback(RingStatus::kHandback, "a malformed frame header");
    }
    if (group != s_.group || seq != s_.seq) {
      // Another op's frame (a later op of this group, another group): keep it for JS, raw, if it
      // could be legitimate (JS's own routing rules: a group within the world holding both ranks,
      // a later sequence number of this group within the window); else stop and let JS fail it.
      flip_header_mask(h);
      const bool plausible = (group & ~s_.world_mask) == 0 && (group & s_.pair_mask) == s_.pair_mask &&
                             (group != s_.group || seq - s_.seq < 1024u);
      if (!plausible) return handback(RingStatus::kHandback, "a frame for an unknown group or sequence");
      return keep_frame(bytes);
    }
    size_t off = 0;
    const std::string defect = check_own(h, bytes, &off);
    const uint16_t step = rd16(h + 6);
    const uint32_t chunk = rd32(h + 16);
    const uint32_t n = s_.n;
    if (!defect.empty()) {
      flip_header_mask(h);
      return handback(RingStatus::kDefect, defect);
    }
    seen_[size_t(step) * max_chunks_ + chunk] = 1;
    step_ = step;
    chunk_ = chunk;
    dst_ = s_.buf + off;
    dst_bytes_ = bytes;
    got_ = 0;
    add_ = step < n - 1;
    sfill_ = 0;
    sbase_ = 0;
    remaining_ = bytes;
    phase_ = Phase::kPayload;
    if (bytes == 0) frame_done();
  }

  void parse_ws_prefix() {
    // rh_ has at least 2 bytes; work out the WebSocket header length.
    const uint8_t len7 = rh_[1] & 0x7f;
    masked_ = (rh_[1] & 0x80) != 0;
    ws_len_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked_ ? 4 : 0);
  }

  void frame_done() {
    r_.frames_received++;
    r_.payload_received += dst_bytes_;
    recv_left_--;
    if (step_ < steps_ - 1) sendq_.push_back({static_cast<uint16_t>(step_ + 1), chunk_});
    reset_header();
  }

  // Sums whole floats that have arrived in scratch into the destination.
  void flush_scratch() {
    const size_t whole = sfill_ & ~size_t(3);
    if (whole > 0) {
      add_into(reinterpret_cast<float*>(reinterpret_cast<uint8_t*>(dst_) + sbase_),
               reinterpret_cast<const float*>(scratch_), whole / 4);
    }
    const size_t tail = sfill_ - whole;
    if (tail) std::memmove(scratch_, scratch_ + whole, tail);
    sbase_ += whole;
    sfill_ = tail;
  }

  void read_some() {
    while (!stopped_ && recv_left_ > 0) {
      if (phase_ == Phase::kHeader && rfill_ == 0 && cancel_requested()) return;
      uint8_t* into;
      size_t want;
      switch (phase_) {
        case Phase::kHeader:
          into = rh_ + rfill_;
          want = rneed_ - rfill_;
          break;
        case Phase::kForeign: {
          // Foreign payload: straight into rest (bounded).
          const size_t k = static_cast<size_t>(std::min<uint64_t>(remaining_, kScratch));
          if (r_.rest.size() + k > s_.max_rest) {
            return stop(RingStatus::kRestOverflow, "more than " + std::to_string(s_.max_rest) +
                                                       " bytes of frames for other ops arrived during the all-reduce");
          }
          const size_t at = r_.rest.size();
          r_.rest.resize(at + k);
          const ssize_t got = read(s_.prev_fd, r_.rest.data() + at, k);
          if (got <= 0) {
            r_.rest.resize(at);
            if (!read_failed(got)) return;
            continue;
          }
          r_.rest.resize(at + size_t(got));
          remaining_ -= size_t(got);
          if (remaining_ == 0) reset_header();
          continue;
        }
        case Phase::kPayload:
        default:
          if (add_) {
            into = scratch_ + sfill_;
            want = static_cast<size_t>(std::min<uint64_t>(remaining_, kScratch - sfill_));
          } else {
            into = reinterpret_cast<uint8_t*>(dst_) + got_;
            want = static_cast<size_t>(remaining_);
          }
          break;
      }
      const ssize_t got = read(s_.prev_fd, into, want);
      if (got <= 0) {
        if (!read_failed(got)) return;
        continue;
      }
      const size_t g = size_t(got);
      if (phase_ == Phase::kHeader) {
        const size_t before = rfill_;
        rfill_ += g;
        if (before < 2 && rfill_ >= 2) {
          parse_ws_prefix();
          rneed_ = ws_len_;
        }
        if (rfill_ == ws_len_ && rneed_ == ws_len_) {
          // Decode length and mask key.
          const uint8_t len7 = rh_[1] & 0x7f;
          size_t p = 2;
          if (len7 == 126) {
            flen_ = (uint64_t(rh_[2]) << 8) | rh_[3];
            p = 4;
          } else if (len7 == 127) {
            flen_ = 0;
            for (int b = 0; b < 8; ++b) flen_ = (flen_ << 8) | rh_[2 + b];
            p = 10;
          } else {
            flen_ = len7;
          }
          if (masked_) {
            std::memcpy(mkey_, rh_ + p, 4);
            mask_zero_ = rd32(mkey_) == 0;
          } else {
            mask_zero_ = true;
          }
          header_done();
        } else if (rneed_ > ws_len_ && rfill_ == rneed_) {
          header_done();
        }
        continue;
      }
      // Payload of this op's frame.
      unmask(into, g);
      remaining_ -= g;
      if (add_) {
        sfill_ += g;
        if (sfill_ >= kScratch - 3 || remaining_ == 0) flush_scratch();
      } else {
        got_ += g;
      }
      if (remaining_ == 0) {
        frame_done();
        write_some();  // forward it at once
      }
    }
  }

  // got <= 0 from read(): true to retry, false to return (would block, or stopped).
  bool read_failed(ssize_t got) {
    if (got == 0) {
      stop(RingStatus::kPrevClosed, "the left neighbour closed the connection");
      return false;
    }
    if (errno == EINTR) return true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    stop(RingStatus::kPrevError, std::string("receive failed: ") + std::strerror(errno));
    return false;
  }
};

#endif  // MTL_RING_POSIX

}  // namespace

void ring_all_reduce(const RingSpec& spec, RingResult& out) {
#if MTL_RING_POSIX
  if (spec.n < 2 || spec.i >= spec.n || spec.chunk_elems == 0 || (spec.len > 0 && spec.buf == nullptr)) {
    out.status = RingStatus::kInternal;
    out.message = "bad ring spec";
    return;
  }
  Engine(spec, out).run();
#else
  (void)spec;
  out.status = RingStatus::kInternal;
  out.message = "the native ring needs POSIX sockets";
#endif
}

}  // namespace mtl

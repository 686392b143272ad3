// Ring all-reduce over two already-connected, non-blocking TCP sockets, run off the JS thread.
//
// It speaks the collective's wire format exactly (RFC 6455 binary frames: a WebSocket header,
// the 32-byte 'MTLC' frame header of packages/collective/src/frame.ts, the float32 payload) and
// follows the same schedule and summation order as AllReduceOp in packages/collective/src/ops.ts,
// so a rank running it and a rank running the JS op produce and accept the same frames and the
// same bits. It knows nothing of models: it sums a float buffer.
//
// Bytes read from the left neighbour that are not this op's frames are returned untouched in
// `rest`, in stream order, for the JS endpoint to parse: rest followed by what is still in the
// socket is exactly the byte stream the JS side would have seen, minus this op's frames. Frames
// that may belong to another op (a group holding both ranks; a later op of this group, at most
// 1024 ahead) and pings are kept aside and the op goes on; anything else (a close frame, a text
// frame, a malformed or implausible frame) stops the op right there and is left to JS, which
// raises the same error it always does. Defects in this op's own frames are reported with the
// JS op's wording; "{op}" and "{kind:N}" in the message stand for the op's and kind N's names.
#pragma once
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace mtl {

struct RingSpec {
  int prev_fd = -1;          // frames from the left neighbour are read here
  int next_fd = -1;          // frames to the right neighbour are written here (may equal prev_fd)
  bool prev_masked = false;  // frames from the left carry a mask key (the left is the WS client)
  bool next_masked = false;  // frames sent carry a zero mask key (this rank is the WS client)
  float* buf = nullptr;      // summed in place
  uint32_t len = 0;          // elements
  uint32_t n = 0;            // ring size
  uint32_t i = 0;            // this rank's position in the ring
  uint32_t chunk_elems = 0;
  uint8_t kind = 1;          // OpKind carried in headers
  uint32_t group = 0;
  uint32_t seq = 0;
  uint32_t world_mask = 0;  // bit r set for every world rank r
  uint32_t pair_mask = 0;   // bits of this rank and of the left neighbour (world ranks)
  uint64_t max_frame = 0;    // largest WebSocket payload accepted (larger frames go back to JS)
  uint64_t max_rest = 0;     // bytes of other traffic kept aside before giving up
  const uint8_t* pre = nullptr;  // frames of this op received before it began: 32-byte frame
  size_t pre_bytes = 0;          // header + payload each, back to back (validated here)
  int cancel_fd = -1;        // readable (eventfd) when the op must stop
  const std::atomic<bool>* cancelled = nullptr;  // set with it: checked between frames, since a
                                                 // busy stream may keep the loop away from poll
};

enum class RingStatus : int {
  kOk = 0,
  kCancelled = 1,
  kPrevClosed = 2,   // end of stream from the left neighbour
  kPrevError = 3,    // read error on the left socket
  kNextError = 4,    // write error on the right socket
  kDefect = 5,       // a frame of this op is malformed; message says why; the frame is in rest
  kHandback = 6,     // a frame this engine does not handle (close, text, protocol error) is in rest
  kRestOverflow = 7, // more than max_rest bytes of other traffic
  kInternal = 8,
};

struct RingResult {
  RingStatus status = RingStatus::kOk;
  std::string message;
  std::vector<uint8_t> rest;
  uint64_t frames_sent = 0, payload_sent = 0, frames_received = 0, payload_received = 0;
};

// Runs the whole op (blocking the calling thread, polling both sockets and cancel_fd).
void ring_all_reduce(const RingSpec& spec, RingResult& out);

}  // namespace mtl

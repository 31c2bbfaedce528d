// A Buffer that hands every call to another one. Tests derive from it and
// override only the calls they change (hold appends back, fail reads, ...).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "storage/buffer.h"

namespace tributary::storage::testing {

class ForwardingBuffer : public Buffer {
 public:
  explicit ForwardingBuffer(Buffer* inner) : inner_(inner) {}

  void Append(AppendRequest request, AppendCallback done) override {
    inner_->Append(std::move(request), std::move(done));
  }
  uint64_t ResumePoint(const std::string& producer_id) override {
    return inner_->ResumePoint(producer_id);
  }
  absl::StatusOr<ConsumerState> OpenConsumer(const std::string& name) override {
    return inner_->OpenConsumer(name);
  }
  absl::Status RemoveConsumer(const std::string& name) override {
    return inner_->RemoveConsumer(name);
  }
  absl::StatusOr<std::vector<Entry>> Read(uint64_t from, size_t max_entries,
                                          size_t max_bytes) override {
    return inner_->Read(from, max_entries, max_bytes);
  }
  bool WaitForEntries(uint64_t from, absl::Time deadline) override {
    return inner_->WaitForEntries(from, deadline);
  }
  absl::Status CommitCursor(const std::string& consumer, uint64_t next) override {
    return inner_->CommitCursor(consumer, next);
  }
  BufferStats Stats() override { return inner_->Stats(); }
  absl::Status Close() override { return inner_->Close(); }

 protected:
  Buffer* inner() const { return inner_; }

 private:
  Buffer* const inner_;
};

}  // namespace tributary::storage::testing

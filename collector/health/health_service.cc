#include "collector/health/health_service.h"

#include <vector>

namespace tributary::collector {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch call: writes the status whenever it changes (only the latest
// status is kept while a write is in flight).
class HealthWatch final : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  HealthWatch(HealthServiceImpl* service, std::string name) : service_(service), name_(name) {}

  // Called under service_->mu_.
  void Update(HealthCheckResponse::ServingStatus status, bool final)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(service_->mu_) {
    MutexLock lock(&mu_);
    if (finished_) return;
    if (status != last_sent_ || final) {
      next_ = status;
      has_next_ = true;
    }
    final_ = final_ || final;
    StartLocked();
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) final_ = true;
    StartLocked();
  }

  void OnCancel() override {
    MutexLock lock(&mu_);
    final_ = true;
    has_next_ = false;
    StartLocked();
  }

  void OnDone() override {
    {
      MutexLock lock(&service_->mu_);
      service_->watches_.erase(this);
    }
    delete this;
  }

 private:
  void StartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (has_next_) {
      has_next_ = false;
      last_sent_ = next_;
      response_.set_status(next_);
      writing_ = true;
      StartWrite(&response_);
      return;
    }
    if (final_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  HealthServiceImpl* const service_;
  const std::string name_;
  Mutex mu_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);
  HealthCheckResponse::ServingStatus next_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  HealthCheckResponse::ServingStatus last_sent_ ABSL_GUARDED_BY(mu_) =
      HealthCheckResponse::UNKNOWN;
  bool has_next_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool final_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;

  friend class HealthServiceImpl;
};

HealthServiceImpl::HealthServiceImpl(std::set<std::string> services)
    : services_(std::move(services)) {}

HealthServiceImpl::~HealthServiceImpl() = default;

HealthCheckResponse::ServingStatus HealthServiceImpl::StatusFor(
    const std::string& service) const {
  if (!service.empty() && services_.count(service) == 0) {
    return HealthCheckResponse::SERVICE_UNKNOWN;
  }
  return serving_ && !shut_down_ ? HealthCheckResponse::SERVING
                                 : HealthCheckResponse::NOT_SERVING;
}

void HealthServiceImpl::SetServing(bool serving) {
  MutexLock lock(&mu_);
  if (serving_ == serving) return;
  serving_ = serving;
  for (HealthWatch* w : watches_) w->Update(StatusFor(w->name_), /*final=*/false);
}

bool HealthServiceImpl::serving() const {
  MutexLock lock(&mu_);
  return serving_ && !shut_down_;
}

void HealthServiceImpl::Shutdown() {
  MutexLock lock(&mu_);
  shut_down_ = true;
  for (HealthWatch* w : watches_) w->Update(StatusFor(w->name_), /*final=*/true);
}

grpc::ServerUnaryReactor* HealthServiceImpl::Check(grpc::CallbackServerContext* context,
                                                   const HealthCheckRequest* request,
                                                   HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  HealthCheckResponse::ServingStatus status;
  {
    MutexLock lock(&mu_);
    status = StatusFor(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "unknown service \"" + request->service() + "\""));
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthServiceImpl::Watch(
    grpc::CallbackServerContext* /*context*/, const HealthCheckRequest* request) {
  auto* watch = new HealthWatch(this, request->service());
  MutexLock lock(&mu_);
  watches_.insert(watch);
  watch->Update(StatusFor(request->service()), /*final=*/shut_down_);
  return watch;
}

}  // namespace tributary::collector

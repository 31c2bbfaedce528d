// grpc.health.v1.Health, compiled into the collector (not gRPC's built-in
// service) so that server reflection can describe it. The collector is
// SERVING only while its buffer accepts writes and it is not shutting down.
#pragma once

#include <set>
#include <string>

#include "base/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace tributary::collector {

class HealthWatch;

class HealthServiceImpl final : public grpc::health::v1::Health::CallbackService {
 public:
  // `services`: the fully-qualified service names Check answers for (besides
  // "", the server as a whole).
  explicit HealthServiceImpl(std::set<std::string> services);
  ~HealthServiceImpl() override;

  void SetServing(bool serving);
  bool serving() const;

  // Ends every Watch call (NOT_SERVING is sent first), and answers new ones
  // at once. Call before shutting the gRPC server down.
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  friend class HealthWatch;
  grpc::health::v1::HealthCheckResponse::ServingStatus StatusFor(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::set<std::string> services_;
  mutable Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<HealthWatch*> watches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tributary::collector

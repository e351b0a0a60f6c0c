/** Builds a cluster's health checker by kind (Envoy's HealthCheckerFactory::create). */
import type { HealthCheckConfig } from "../config/bootstrap.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Logger } from "../log.ts";
import type { HealthCheckedCluster, HealthCheckerImplBase } from "./health-checker.ts";
import { GrpcHealthCheckerImpl } from "./grpc-health-checker.ts";
import { HttpHealthCheckerImpl } from "./http-health-checker.ts";
import { TcpHealthCheckerImpl } from "./tcp-health-checker.ts";

export function createHealthChecker(cluster: HealthCheckedCluster, config: HealthCheckConfig, dispatcher: Dispatcher, log: Logger | undefined): HealthCheckerImplBase {
  switch (config.checker.kind) {
    case "http":
      return new HttpHealthCheckerImpl(cluster, config, dispatcher, log);
    case "tcp":
      return new TcpHealthCheckerImpl(cluster, config, dispatcher, log);
    case "grpc":
      return new GrpcHealthCheckerImpl(cluster, config, dispatcher, log);
  }
}

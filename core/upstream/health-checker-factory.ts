/** Builds a cluster's health checker by kind (Envoy's HealthCheckerFactory::create). */
import type { HealthCheckConfig } from "../config/bootstrap.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Logger } from "../log.ts";
import type { HealthCheckedCluster, HealthCheckerImplBase } from "./health-checker.ts";
import { HttpHealthCheckerImpl } from "./http-health-checker.ts";
import { TcpHealthCheckerImpl } from "./tcp-health-checker.ts";

export function createHealthChecker(cluster: HealthCheckedCluster, config: HealthCheckConfig, dispatcher: Dispatcher, log: Logger | undefined): HealthCheckerImplBase {
  return config.checker.kind === "http" ? new HttpHealthCheckerImpl(cluster, config, dispatcher, log) : new TcpHealthCheckerImpl(cluster, config, dispatcher, log);
}

/** A DiscoveryResponse as read: its version and its resources, not yet checked (discovery-response.ts). */
export interface RawDiscoveryResponse {
  readonly versionInfo: string;
  readonly resources: readonly unknown[];
}

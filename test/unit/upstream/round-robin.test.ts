import { describe, expect, test } from "vitest";
import { Host } from "../../../core/upstream/host.ts";
import { RoundRobinLoadBalancer } from "../../../core/upstream/round-robin.ts";

describe("RoundRobinLoadBalancer", () => {
  test("picks hosts in order and wraps around", () => {
    const hosts = [new Host("10.0.0.1", 1), new Host("10.0.0.2", 2), new Host("10.0.0.3", 3)];
    const lb = new RoundRobinLoadBalancer(hosts);
    const chosen = Array.from({ length: 7 }, () => lb.chooseHost());
    expect(chosen).toEqual([hosts[0], hosts[1], hosts[2], hosts[0], hosts[1], hosts[2], hosts[0]]);
    expect(chosen[0]).toBe(hosts[0]); // the very Host objects, not copies
  });

  test("a single host is picked every time", () => {
    const host = new Host("10.0.0.1", 80);
    const lb = new RoundRobinLoadBalancer([host]);
    expect([lb.chooseHost(), lb.chooseHost(), lb.chooseHost()]).toEqual([host, host, host]);
  });

  test("no hosts gives undefined, repeatedly", () => {
    const lb = new RoundRobinLoadBalancer([]);
    expect(lb.chooseHost()).toBeUndefined();
    expect(lb.chooseHost()).toBeUndefined();
  });

  test("Host prints as address:port, IPv6 in brackets", () => {
    expect(new Host("10.0.0.1", 8080).toString()).toBe("10.0.0.1:8080");
    expect(new Host("::1", 443).toString()).toBe("[::1]:443");
  });
});

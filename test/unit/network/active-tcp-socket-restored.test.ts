/**
 * ActiveTcpSocket (core/network/active-tcp-socket.ts): which addresses a listener filter
 * restored. Only a restored LOCAL address is Envoy's localAddressRestored — what makes it an
 * ORIGINAL_DST cluster's destination; a filter setting the remote address alone does not.
 */
import { expect, test } from "vitest";
import { ActiveTcpSocket, type ActiveTcpSocketOwner } from "../../../core/network/active-tcp-socket.ts";
import { FakeSocket } from "../../support/fake-socket.ts";

const owner = { now: () => 0 } as unknown as ActiveTcpSocketOwner;
const remote = { address: "192.0.2.1", port: 5555, family: 4 as const };
const local = { address: "10.0.0.1", port: 80, family: 4 as const };

test("setRemoteAddress alone restores addresses but not the local one", () => {
  const socket = new ActiveTcpSocket(owner, new FakeSocket(), [], 0, false);
  socket.setRemoteAddress(remote);
  expect(socket.addressesRestored).toBe(true);
  expect(socket.localAddressRestored).toBe(false);
});

test("restoreLocalAddress marks the local address restored", () => {
  const socket = new ActiveTcpSocket(owner, new FakeSocket(), [], 0, false);
  socket.restoreLocalAddress(local);
  expect(socket.localAddressRestored).toBe(true);
  expect(socket.localAddress).toEqual(local);
});

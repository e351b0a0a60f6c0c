/** A value that goes up and down (Envoy's Gauge), e.g. active connections. */
export class Gauge {
  value = 0;
  used = false;

  constructor(readonly name: string) {}

  inc(by = 1): void {
    this.value += by;
    this.used = true;
  }

  dec(by = 1): void {
    this.value -= by;
    this.used = true;
  }

  set(value: number): void {
    this.value = value;
    this.used = true;
  }
}

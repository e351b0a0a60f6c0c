// A one-line progress bar on a terminal (redrawn in place); on a pipe or a file, one plain
// line per step instead, so that CI logs stay readable.
const WIDTH = 24;

export class Progress {
  constructor(total, stream) {
    this.total = Math.max(1, total);
    this.doneSteps = 0;
    this.stream = stream;
    this.tty = Boolean(stream.isTTY);
    this.label = "";
  }
  update(label) {
    this.label = label;
    this.draw();
  }
  advance(steps) {
    this.doneSteps = Math.min(this.total, this.doneSteps + steps);
    this.draw();
  }
  draw() {
    const filled = Math.round((this.doneSteps / this.total) * WIDTH);
    const line = `[${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${this.doneSteps}/${this.total} ${this.label}`;
    if (this.tty) this.stream.write(`\r\x1b[2K${line}`);
    else if (line !== this.last) this.stream.write(`${line}\n`);
    this.last = line;
  }
  done() {
    if (this.tty && this.last !== undefined) this.stream.write("\n");
  }
}

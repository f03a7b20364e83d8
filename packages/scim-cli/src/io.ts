/** Where a command reads its environment and writes its output, so tests can run it in-process. */

/** `process.stdout`, or anything with a `write` (a test collects into a string). */
export interface CliOutput {
  write(chunk: string): unknown;
  /** The terminal's width, when it is one. */
  readonly columns?: number;
}

export interface CliIo {
  /** Reports and env lines; with `--json`, only the JSON report. Default `process.stdout`. */
  stdout: CliOutput;
  /** Progress, notes, warnings and errors. Default `process.stderr`. */
  stderr: CliOutput;
  /** Default `process.env`. */
  env: Readonly<Record<string, string | undefined>>;
  /** Whether `stderr` is a terminal (the progress bar needs one). Default `process.stderr.isTTY`. */
  isTTY: boolean;
  /** Where `--config` paths and the app's packages are resolved from. Default `process.cwd()`. */
  cwd: string;
  /**
   * Stops a running command: `reconcile` at its next page (keeping its checkpoint), `fake-scalekit`
   * by closing the server. Default: aborted on the first SIGINT or SIGTERM.
   */
  signal: AbortSignal;
}

/** Writes one line to `out`. */
export function println(out: CliOutput, line = ''): void {
  out.write(`${line}\n`);
}

/** One benchmark of `npm run bench`: prints its own figures through `log`. */
export interface Benchmark {
  name: string;
  run(log: (line: string) => void): Promise<void>;
}

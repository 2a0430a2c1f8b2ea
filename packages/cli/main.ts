// The lpkit executable: no logic here, so the same entry serves `deno run`,
// Node and the single binary (no import.meta.main, no Deno.*, no top-level
// await: the bundle is CommonJS). It imports cli.ts and platform.ts, not
// mod.ts, which would load every command and package up front.
import { main } from "./cli.ts";
import { processArgs, processIo, setExitCode } from "./platform.ts";

main(processArgs(), processIo()).then(setExitCode);

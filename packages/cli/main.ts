// The lpkit executable: no logic here, so the same entry serves `deno run`,
// Node and the single binary (no import.meta.main, no Deno.*).
import { main, processArgs, processIo, setExitCode } from "./mod.ts";

setExitCode(main(processArgs(), processIo()));

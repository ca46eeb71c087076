// Talks with its client: receives messages one at a time and answers each, in order.
import * as pie from "pie";

export async function main(args) {
  const count = args.length > 0 ? Number(args[0]) : 3;
  if (!Number.isInteger(count) || count < 0) {
    throw new Error(`usage: messaging-js [count]; '${args[0]}' is not a message count`);
  }
  for (let i = 1; i <= count; ++i) {
    const message = await pie.receive();
    pie.send(`reply ${i}: ${message}`);
  }
  return `answered ${count} messages`;
}

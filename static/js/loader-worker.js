// The served page's trace reader, off the page's thread (loader.js readTrace): it reads
// and parses the file and sends the rows in batches, which the page indexes while the
// next ones are parsed. One message starts it ({blob, options}); {taken} messages say
// the page took a batch.

import { Batches, pump, TraceParser } from "./loader.js";

let sink = null;

self.onmessage = async ({ data }) => {
  if (data.taken) {
    sink?.took();
    return;
  }
  sink = new Batches((message, transfer) => self.postMessage(message, transfer));
  // The stream reads 64 KB at a time: the page hears of every whole percent only.
  let said = -1;
  const progress = (fraction) => {
    const percent = Math.floor(fraction * 100);
    if (percent === said) return;
    said = percent;
    self.postMessage({ progress: fraction });
  };
  try {
    const { trace, gzip } = await pump(data.blob, new TraceParser(sink), progress, data.options,
      () => sink.caughtUp());
    sink.send();
    self.postMessage({ done: true, trace, gzip });
  } catch (err) {
    self.postMessage({ error: err?.message || String(err) });
  }
};

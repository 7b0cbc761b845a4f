// web/assets/pages/csv_download.js: saving one of the API's CSV exports as a file: every
// part the API splits it into (X-Next-Cursor), joined under one header line, then handed to
// the browser as a download. The button is disabled meanwhile; the outcome (done, or the
// failure's translated sentence) goes to the message region.

import { api } from "../api.js";
import { h, clear, showError, showOk } from "../dom.js";
import { t } from "../i18n.js";

export async function saveCsv(path, query, filename, button, message) {
  button.disabled = true;
  clear(message);
  message.className = "message";
  try {
    let text = "";
    let cursor = query.cursor ?? null;
    do {
      const part = await api("GET", path, { query: { ...query, cursor }, csv: true });
      // Every part starts with the header line: keep the first one only.
      text += text ? part.text.slice(part.text.indexOf("\n") + 1) : part.text;
      cursor = part.nextCursor;
    } while (cursor);
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    const a = h("a", { href: url, download: filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    showOk(message, t("details.csv_done"));
  } catch (e) {
    showError(message, e);
  } finally {
    button.disabled = false;
  }
}

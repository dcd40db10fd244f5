// The one network request the view makes itself: the PUT of a file's bytes to its presigned URL.
// XMLHttpRequest, not fetch, because only XHR reports upload progress.

import { UploadFailure } from "./contract";

/** Set by the browser itself; scripts may not (and need not) set them. */
const BROWSER_MANAGED = new Set(["content-length", "host", "connection", "expect"]);

export function putFile(
  url: string,
  headers: Record<string, string>,
  file: Blob,
  onProgress: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) {
      if (!BROWSER_MANAGED.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(new UploadFailure(storageError(xhr.status, xhr.responseText)));
    };
    // A blocked request (CSP connect-src, CORS, network) gives no status and no body to show.
    xhr.onerror = () =>
      reject(
        new UploadFailure(
          "The browser could not send the file to the storage endpoint (network error, or blocked by " +
            "CORS or the host's content security policy).",
        ),
      );
    xhr.onabort = () => reject(new UploadFailure("The upload was cancelled."));
    // A Blob with no type: the browser then adds no Content-Type of its own, so the request
    // carries exactly the headers the ticket lists (a signed content-type must match).
    xhr.send(file.slice(0, file.size, ""));
  });
}

/** The store's own words: S3 answers errors with `<Error><Code/><Message/></Error>`. */
function storageError(status: number, body: string): string {
  let code = "";
  let message = "";
  try {
    const xml = new DOMParser().parseFromString(body, "application/xml");
    code = xml.querySelector("Error > Code")?.textContent?.trim() ?? "";
    message = xml.querySelector("Error > Message")?.textContent?.trim() ?? "";
  } catch {
    // Not XML: fall back to the raw body below.
  }
  const detail = message || body.trim().slice(0, 300);
  return `Storage refused the upload (HTTP ${status}${code ? ` ${code}` : ""})${detail ? `: ${detail}` : ""}`;
}

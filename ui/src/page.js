// Page plumbing shared by the landing and editor pages: clipboard and the offline cache.

/** Copies text; falls back to a hidden textarea where the Clipboard API is missing (plain
 * http on a LAN address is not a secure context). Resolves to whether it worked. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  }
}

/** Installs the service worker that lets a room page reload while offline. Browsers only
 * allow it on https and localhost; elsewhere the page simply needs the network to load. */
export function registerServiceWorker() {
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  navigator.serviceWorker.register("/sw.js").catch((error) => {
    console.warn("offline cache unavailable", error);
  });
}

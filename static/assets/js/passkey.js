// Passkeys (WebAuthn). A form with data-passkey="BEGIN-URL" gets its
// ceremony's options from BEGIN-URL, runs navigator.credentials.create
// (data-passkey-mode="create") or .get ("get"), puts the answer as JSON in
// its hidden "credential" field, and is then submitted as an ordinary form:
// the server checks it like any other. Without this script, or in a
// browser without WebAuthn, the passkey buttons stay hidden.
(function () {
  "use strict";

  function toBuffer(b64url) {
    var s = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    o.challenge = toBuffer(o.challenge);
    o.user.id = toBuffer(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBuffer(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBuffer(c.id); });
    return o;
  }

  // The credential in the JSON form the server parses (WebAuthn Level 3's
  // toJSON, written out for browsers that lack it).
  function credentialJSON(c) {
    var r = c.response;
    var out = {
      id: c.id,
      rawId: toB64url(c.rawId),
      type: c.type,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (c.authenticatorAttachment) {
      out.authenticatorAttachment = c.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toB64url(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function start(form) {
    var status = form.querySelector("[data-passkey-status]");
    // The messages come from the page, in the reader's language.
    function say(msg) {
      if (status) {
        status.textContent = msg;
        status.hidden = msg === "";
      }
    }
    say("");
    fetch(form.dataset.passkey, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": form.elements.csrf.value }
    }).then(function (resp) {
      if (!resp.ok) {
        throw new Error("the server refused to start: " + resp.status);
      }
      return resp.json();
    }).then(function (data) {
      form.elements.ceremony.value = data.ceremony;
      if (form.dataset.passkeyMode === "get") {
        return navigator.credentials.get({ publicKey: requestOptions(data.options) });
      }
      return navigator.credentials.create({ publicKey: creationOptions(data.options) });
    }).then(function (cred) {
      form.elements.credential.value = credentialJSON(cred);
      form.submit();
    }).catch(function (err) {
      if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
        say(status && status.dataset.msgCancelled);
      } else if (err && err.name === "InvalidStateError") {
        say(status && status.dataset.msgRegistered);
      } else {
        say(status && status.dataset.msgFailed);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return;
    }
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      form.querySelectorAll("[data-passkey-button]").forEach(function (el) { el.hidden = false; });
      form.querySelectorAll("[data-passkey-unsupported]").forEach(function (el) { el.hidden = true; });
      form.addEventListener("submit", function (e) {
        if (form.elements.credential.value) {
          return;
        }
        e.preventDefault();
        start(form);
      });
    });
  });
})();

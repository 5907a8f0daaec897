// The portal's little interactivity, without a build step: per-file uploads with progress, and parts of a
// page that refresh themselves (the document timeline). Every page also works without this script.
(function () {
  "use strict";

  function csrfToken(form) {
    var field = form.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function resultLine(list, name) {
    var empty = list.querySelector(".empty");
    if (empty) { empty.remove(); }
    var item = document.createElement("li");
    var label = document.createElement("strong");
    label.textContent = name;
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", list.dataset.textProgress.replace("{name}", name));
    var message = document.createElement("span");
    message.className = "result-message";
    message.textContent = list.dataset.textUploading;
    item.append(label, " ", progress, " ", message);
    list.append(item);
    return { item: item, progress: progress, message: message };
  }

  function showResult(list, line, result) {
    line.item.className = result.ok ? "ok" : "error";
    line.progress.value = 100;
    line.message.textContent = result.message;
    if (result.link) {
      var link = document.createElement("a");
      link.href = result.link;
      link.textContent = list.dataset.textOpen;
      line.item.append(" ", link);
    }
  }

  function fieldsOf(form) {
    var fields = new FormData(form);
    fields.delete("files");
    fields.delete("csrf_token");
    return fields;
  }

  function sendOne(form, list, file, fields) {
    return new Promise(function (resolve) {
      var line = resultLine(list, file.name);
      var body = new FormData();
      fields.forEach(function (value, key) { body.append(key, value); });
      body.append("file", file, file.name);
      var request = new XMLHttpRequest();
      request.open("POST", form.dataset.uploadUrl);
      request.setRequestHeader("X-CSRF-Token", csrfToken(form));
      request.setRequestHeader("X-Requested-With", "fetch");
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) { line.progress.value = Math.round((event.loaded / event.total) * 100); }
      });
      request.addEventListener("load", function () {
        var result;
        try { result = JSON.parse(request.responseText); } catch (e) { result = null; }
        if (request.status === 401) { result = { ok: false, message: list.dataset.textExpired }; }
        if (!result || typeof result.message !== "string") { result = { ok: false, message: list.dataset.textFailed }; }
        showResult(list, line, result);
        resolve(result);
      });
      request.addEventListener("error", function () {
        showResult(list, line, { ok: false, message: list.dataset.textFailed });
        resolve({ ok: false });
      });
      request.send(body);
    });
  }

  async function uploadAll(form, list, files) {
    var fields = fieldsOf(form);
    for (var i = 0; i < files.length; i++) {
      var result = await sendOne(form, list, files[i], fields);
      // A new Akte is created once: the following files of the same upload go into it.
      if (result.ok && result.aktenzeichen && fields.get("file_plan_class")) {
        fields.set("aktenzeichen", result.aktenzeichen);
        fields.set("file_plan_class", "");
        fields.set("akte_title", "");
      }
    }
  }

  function setUpUpload() {
    var form = document.getElementById("upload-form");
    if (!form || !window.FormData || !window.XMLHttpRequest) { return; }
    var input = document.getElementById("files");
    var list = document.getElementById("upload-results");
    var zone = document.getElementById("dropzone");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var files = Array.prototype.slice.call(input.files);
      if (!files.length) { input.focus(); return; }
      var button = document.getElementById("upload-button");
      button.disabled = true;
      uploadAll(form, list, files).then(function () {
        button.disabled = false;
        input.value = "";
      });
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        form.requestSubmit();
      }
    });
  }

  // Page previews: the page strip pages the large view; zoom with buttons or +/-; arrow keys page when not zoomed.
  function setUpPreviews(root) {
    root.querySelectorAll(".preview-viewer").forEach(function (viewer) {
      if (viewer.dataset.ready) { return; }
      viewer.dataset.ready = "true";
      var pages = parseInt(viewer.dataset.pages, 10) || 1;
      var current = 1;
      var zoom = 1;
      var large = viewer.querySelector("[data-preview-large]");
      var frame = viewer.querySelector(".preview-page");
      var position = viewer.querySelector("[data-preview-position]");
      var toolbar = viewer.querySelector(".preview-toolbar");
      function button(name) { return toolbar.querySelector('[data-preview="' + name + '"]'); }
      function show(page) {
        current = Math.min(pages, Math.max(1, page));
        large.src = viewer.dataset.base + current + ".png?size=large";
        large.alt = viewer.dataset.textAlt.replace("{page}", current);
        position.textContent = viewer.dataset.textPosition.replace("{page}", current);
        viewer.querySelectorAll("[data-preview-page]").forEach(function (link) {
          if (parseInt(link.dataset.previewPage, 10) === current) { link.setAttribute("aria-current", "page"); }
          else { link.removeAttribute("aria-current"); }
        });
        button("prev").disabled = current === 1;
        button("next").disabled = current === pages;
        frame.scrollTop = 0;
      }
      function setZoom(value) {
        zoom = Math.min(4, Math.max(0.5, value));
        large.style.width = Math.round(zoom * 100) + "%";
        button("zoom-out").disabled = zoom <= 0.5;
        button("zoom-in").disabled = zoom >= 4;
      }
      var actions = {
        prev: function () { show(current - 1); },
        next: function () { show(current + 1); },
        "zoom-in": function () { setZoom(zoom * 1.25); },
        "zoom-out": function () { setZoom(zoom / 1.25); },
        fit: function () { setZoom(1); }
      };
      toolbar.hidden = false;
      toolbar.addEventListener("click", function (event) {
        var target = event.target.closest("[data-preview]");
        if (target && actions[target.dataset.preview]) { actions[target.dataset.preview](); }
      });
      viewer.querySelectorAll("[data-preview-page]").forEach(function (link) {
        link.addEventListener("click", function (event) {
          event.preventDefault();
          show(parseInt(link.dataset.previewPage, 10));
        });
      });
      frame.addEventListener("keydown", function (event) {
        var keys = { "+": "zoom-in", "=": "zoom-in", "-": "zoom-out", "0": "fit", PageUp: "prev", PageDown: "next" };
        if (zoom === 1) { keys.ArrowLeft = "prev"; keys.ArrowRight = "next"; }
        if (keys[event.key]) { event.preventDefault(); actions[keys[event.key]](); }
      });
      show(1);
      setZoom(1);
    });
  }

  function setUpRefresh() {
    document.querySelectorAll("[data-refresh-url]").forEach(function (region) {
      var every = parseInt(region.dataset.refreshMs, 10) || 3000;
      var expired = false;
      function finished() { return expired || region.querySelector('[data-final="true"]') !== null; }
      function refresh() {
        if (finished()) { return; }
        fetch(region.dataset.refreshUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
          .then(function (response) {
            if (response.status === 401) { expired = true; region.insertAdjacentText("beforeend", region.dataset.textExpired || ""); }
            return response.ok ? response.text() : null;
          })
          .then(function (html) {
            if (html !== null && html.trim() !== region.innerHTML.trim()) { region.innerHTML = html; setUpPreviews(region); }
          })
          .catch(function () { /* the next round tries again */ })
          .finally(function () { if (!finished()) { window.setTimeout(refresh, every); } });
      }
      window.setTimeout(refresh, every);
    });
  }

  // A list's thumbnail that is not there (yet, or ever) leaves no broken image behind.
  document.addEventListener("error", function (event) {
    if (event.target.classList && event.target.classList.contains("thumb")) { event.target.hidden = true; }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    setUpUpload();
    setUpRefresh();
    setUpPreviews(document);
  });
})();

// The inbox: one box that ticks or clears every task on the page (shown only where scripts run).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    var form = document.getElementById("bulk-form");
    if (!all || !form) { return; }
    all.closest(".select-all").hidden = false;
    all.addEventListener("change", function () {
      form.querySelectorAll('input[type="checkbox"][name="task_id"]').forEach(function (box) { box.checked = all.checked; });
    });
  });
})();

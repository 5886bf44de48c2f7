// Calldex console: the little the pages need beyond htmx (no inline
// scripts: the Content-Security-Policy allows none).
(function () {
  "use strict";
  var csrf = document.body.dataset.csrf || "";

  // The tenant filter applies on change; its button stays for keyboards
  // and for browsers without scripts.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
    s.addEventListener("change", function () { s.form.submit(); });
  });

  // Destructive forms ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.dataset && e.target.dataset.confirm;
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });

  // Contact upload: the file goes as the request body, with its progress.
  var upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("submit", function (e) {
      e.preventDefault();
      var file = upload.querySelector("input[type=file]").files[0];
      if (!file) { return; }
      var bar = document.getElementById("upload-progress");
      var out = document.getElementById("upload-result");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/console/contacts/upload?tenant=" + encodeURIComponent(upload.dataset.tenant));
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("X-Calldex-Filename", file.name);
      xhr.setRequestHeader("Content-Type", /\.csv$/i.test(file.name) ? "text/csv" : "application/x-ndjson");
      xhr.upload.addEventListener("progress", function (ev) {
        if (ev.lengthComputable) { bar.value = Math.round(100 * ev.loaded / ev.total); bar.textContent = bar.value + "%"; }
      });
      xhr.addEventListener("load", function () {
        bar.value = 100;
        out.innerHTML = xhr.status < 300 ? xhr.responseText : "";
        if (xhr.status >= 300) {
          var p = document.createElement("p");
          p.className = "flash error"; p.setAttribute("role", "alert");
          p.textContent = "Upload failed: " + xhr.status + " " + xhr.responseText;
          out.appendChild(p);
        }
      });
      xhr.addEventListener("error", function () { out.textContent = "Upload failed: the connection broke."; });
      bar.value = 0;
      xhr.send(file);
    });
  }

  // Overview charts: the ring's series, refreshed every 10 s.
  var charts = document.querySelector(".charts[data-series]");
  if (charts && window.uPlot) {
    var plots = {};
    var width = function (id) { return Math.max(280, document.getElementById(id).clientWidth); };
    var make = function (id, series, data) {
      var ratio = series.some(function (s) { return s.scale === "ratio"; });
      var opts = { width: width(id), height: 200, series: [{}].concat(series), axes: ratio ? [{}, {}, { side: 1, scale: "ratio" }] : [{}, {}] };
      plots[id] = new uPlot(opts, data, document.getElementById(id));
    };
    var refresh = function () {
      fetch(charts.dataset.series, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
        var t = d.t || [];
        var sets = {
          "chart-lookups": [[t, d.lookupsPerSec || [], d.hitRatio || []], [{ label: "lookups/s", stroke: "#0550ae" }, { label: "hit ratio", stroke: "#116329", scale: "ratio" }]],
          "chart-latency": [[t, d.p50ms || [], d.p99ms || []], [{ label: "p50 ms", stroke: "#0550ae" }, { label: "p99 ms", stroke: "#a40e26" }]],
          "chart-workflows": [[t, d.done || [], d.retry || [], d.dead || []], [{ label: "done", stroke: "#116329" }, { label: "retrying", stroke: "#9a6700" }, { label: "dead", stroke: "#a40e26" }]]
        };
        Object.keys(sets).forEach(function (id) {
          if (plots[id]) { plots[id].setData(sets[id][0]); } else { make(id, sets[id][1], sets[id][0]); }
        });
      }).catch(function () { /* the next refresh tries again */ });
    };
    refresh();
    setInterval(refresh, 10000);
    window.addEventListener("resize", function () {
      Object.keys(plots).forEach(function (id) { plots[id].setSize({ width: width(id), height: 200 }); });
    });
  }
})();

/* "Be the observer": a 2AFC experiment in the page, plain JavaScript, no framework.
 *
 * Reads <folder>/set.json (written when the book is built, lpips_edu/observer_page.py):
 * the triplets, their PNG files and every metric's distances d0, d1. Shows one
 * triplet at a time in a random order; the reader picks the candidate closer to
 * the reference (click, or the left / right arrow keys; Backspace or U undoes).
 * At the end: how often each metric picked the same candidate (ties count half,
 * as lpips_edu.calibrate.scoring does), the triplets where the featured metric
 * disagreed most, and a download of the judgements as JSON. Nothing is sent
 * anywhere: the answers live in this page until the reader saves them.
 */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function sessionId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function shuffled(n) {
    var order = [];
    for (var i = 0; i < n; i++) order.push(i);
    for (var j = n - 1; j > 0; j--) {
      var k = Math.floor(Math.random() * (j + 1));
      var tmp = order[j]; order[j] = order[k]; order[k] = tmp;
    }
    return order;
  }

  function pick(metric, i) {  // what a metric answers: "p0", "p1", or null on a tie
    if (metric.d1[i] < metric.d0[i]) return "p1";
    if (metric.d0[i] < metric.d1[i]) return "p0";
    return null;
  }

  function seconds(ms) {
    var s = Math.round(ms / 1000);
    return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
  }

  function Experiment(root, set) {
    this.root = root;
    this.set = set;
    this.folder = root.getAttribute("data-folder");
    this.n = set.triplets.length;
    this.token = 0;
    root.textContent = "";
    root.setAttribute("data-version", set.version);
    this.intro();
    root.setAttribute("data-ready-ms", String(Math.round(performance.now())));  // since navigation began
    var self = this;
    document.addEventListener("keydown", function (event) { self.key(event); });
  }

  Experiment.prototype.url = function (name) {
    return this.folder + name + "?v=" + this.set.version;
  };

  Experiment.prototype.state = function (phase) {
    this.phase = phase;
    this.root.setAttribute("data-state", phase);
  };

  Experiment.prototype.intro = function () {
    var self = this;
    var start = el("button", {type: "button", className: "lpo-button lpo-primary lpo-start",
                              text: "Start: " + this.n + " triplets"});
    start.addEventListener("click", function () { self.begin(); });
    this.root.appendChild(el("div", {className: "lpo-intro"}, [
      el("p", {text: "You will see " + this.n + " triplets, one at a time: a reference patch and two " +
                     "changed copies of it. Pick the copy that looks closer to the reference. There are " +
                     "no right answers; go with your first impression."}),
      el("p", {className: "lpo-keys", text: "Keys: \u2190 left, \u2192 right, Backspace or U to undo. " +
                                            "Or click the patch you choose."}),
      start,
    ]));
    this.state("intro");
  };

  Experiment.prototype.begin = function () {
    this.session = sessionId();
    this.started = new Date().toISOString();
    this.order = shuffled(this.n);
    this.answers = [];
    this.root.textContent = "";
    this.buildTrial();
    this.show();
    this.trial.focus({preventScroll: true});
    this.root.scrollIntoView({block: "nearest"});
  };

  Experiment.prototype.buildTrial = function () {
    var self = this;
    this.counter = el("span", {className: "lpo-counter", "aria-live": "polite"});
    this.bar = el("div", {className: "lpo-bar"});
    this.progress = el("div", {className: "lpo-progress", role: "progressbar", "aria-label": "progress",
                               "aria-valuemin": "0", "aria-valuemax": String(this.n)}, [this.bar]);
    this.refImg = el("img", {alt: "Reference patch", width: "64", height: "64"});
    this.choiceImgs = {};
    var buttons = ["p0", "p1"].map(function (choice) {
      var side = choice === "p0" ? "\u2190 left" : "right \u2192";
      var img = el("img", {alt: (choice === "p0" ? "Left" : "Right") + " candidate", width: "64", height: "64"});
      self.choiceImgs[choice] = img;
      var button = el("button", {type: "button", className: "lpo-choice", "data-choice": choice,
                                 "aria-keyshortcuts": choice === "p0" ? "ArrowLeft" : "ArrowRight"},
                      [img, el("span", {text: side})]);
      button.addEventListener("click", function () { self.choose(choice); });
      return button;
    });
    this.undoButton = el("button", {type: "button", className: "lpo-button lpo-undo", text: "Undo"});
    this.undoButton.addEventListener("click", function () { self.undo(); });
    this.trial = el("div", {className: "lpo-trial", tabindex: "-1"}, [
      el("div", {className: "lpo-status"}, [this.counter, this.progress]),
      el("figure", {className: "lpo-reference"}, [this.refImg, el("figcaption", {text: "reference"})]),
      el("p", {className: "lpo-question", text: "Which one looks closer to the reference?"}),
      el("div", {className: "lpo-choices"}, buttons),
      el("div", {className: "lpo-actions"}, [this.undoButton,
        el("span", {className: "lpo-keys", text: "\u2190 / \u2192 to choose, Backspace or U to undo"})]),
    ]);
    this.results = el("div", {className: "lpo-results", hidden: ""});
    this.root.appendChild(this.trial);
    this.root.appendChild(this.results);
  };

  Experiment.prototype.show = function () {
    var self = this, position = this.answers.length, index = this.order[position];
    var files = this.set.triplets[index].files, token = ++this.token;
    this.state("loading");
    this.trial.hidden = false;
    this.results.hidden = true;
    this.trial.classList.add("lpo-waiting");
    this.counter.textContent = "Triplet " + (position + 1) + " of " + this.n;
    this.progress.setAttribute("aria-valuenow", String(position));
    this.bar.style.width = (100 * position / this.n) + "%";
    this.undoButton.disabled = position === 0;
    var images = [[this.refImg, files.ref], [this.choiceImgs.p0, files.p0], [this.choiceImgs.p1, files.p1]];
    Promise.all(images.map(function (pair) {
      pair[0].src = self.url(pair[1]);
      return pair[0].decode ? pair[0].decode().catch(function () {}) : Promise.resolve();
    })).then(function () {
      if (token !== self.token) return;  // the reader moved on (undo) while these loaded
      self.trial.classList.remove("lpo-waiting");
      self.shownAt = performance.now();
      self.root.setAttribute("data-position", String(position));
      self.root.setAttribute("data-triplet", self.set.triplets[index].id);
      self.state("ready");
      self.preload(position + 1);
    });
  };

  Experiment.prototype.preload = function (position) {
    if (position >= this.n) return;
    var files = this.set.triplets[this.order[position]].files, self = this;
    ["ref", "p0", "p1"].forEach(function (role) { new Image().src = self.url(files[role]); });
  };

  Experiment.prototype.choose = function (choice) {
    if (this.phase !== "ready") return;
    var index = this.order[this.answers.length];
    this.answers.push({index: index, choice: choice, ms: Math.round(performance.now() - this.shownAt)});
    if (this.answers.length === this.n) this.finish();
    else this.show();
  };

  Experiment.prototype.undo = function () {
    if (!this.answers || !this.answers.length || this.phase === "intro") return;
    this.answers.pop();
    this.show();
  };

  Experiment.prototype.key = function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target && event.target.tagName;
    if (target === "INPUT" || target === "TEXTAREA" || target === "SELECT") return;
    if (this.phase === "intro" || !this.answers) return;
    var handled = true;
    if (event.key === "ArrowLeft") this.choose("p0");
    else if (event.key === "ArrowRight") this.choose("p1");
    else if (event.key === "Backspace" || event.key === "u" || event.key === "U") this.undo();
    else handled = false;
    if (handled) event.preventDefault();
  };

  Experiment.prototype.scores = function () {  // per metric: agreements with the reader, ties count half
    var answers = this.answers;
    return this.set.metrics.map(function (metric) {
      var agreed = 0;
      answers.forEach(function (a) {
        var p = pick(metric, a.index);
        agreed += p === null ? 0.5 : (p === a.choice ? 1 : 0);
      });
      return {metric: metric, agreed: agreed, score: agreed / answers.length};
    }).sort(function (a, b) { return b.score - a.score; });
  };

  Experiment.prototype.finish = function () {
    var self = this;
    this.state("done");
    this.trial.hidden = true;
    this.results.hidden = false;
    this.results.textContent = "";
    var total = this.answers.reduce(function (sum, a) { return sum + a.ms; }, 0);
    var times = this.answers.map(function (a) { return a.ms; }).sort(function (a, b) { return a - b; });
    this.results.appendChild(el("h3", {text: "Your results"}));
    this.results.appendChild(el("p", {className: "lpo-summary",
      text: "You judged " + this.n + " triplets in " + seconds(total) + " (median " +
            (times[Math.floor(times.length / 2)] / 1000).toFixed(1) + " s each)."}));

    var rows = this.scores().map(function (s) {
      var percent = (100 * s.score).toFixed(1) + "%";
      var bar = el("div", {className: "lpo-score-bar"}, [el("div", {className: "lpo-score-fill"})]);
      bar.firstChild.style.width = (100 * s.score) + "%";
      return el("tr", {"data-metric": s.metric.name, "data-score": String(s.score), title: s.metric.description}, [
        el("th", {scope: "row", text: s.metric.label}),
        el("td", {className: "lpo-number", text: s.agreed + " of " + self.n}),
        el("td", {className: "lpo-number", text: percent}),
        el("td", {className: "lpo-bar-cell"}, [bar]),
      ]);
    });
    this.results.appendChild(el("table", {className: "lpo-table"}, [
      el("caption", {text: "How often each metric picked the same candidate as you (a tie counts half)"}),
      el("thead", {}, [el("tr", {}, [el("th", {scope: "col", text: "metric"}),
        el("th", {scope: "col", text: "agreed"}), el("th", {scope: "col", text: "agreement"}),
        el("th", {scope: "col", className: "lpo-bar-cell", text: "", "aria-hidden": "true"})])]),
      el("tbody", {}, rows),
    ]));
    this.results.appendChild(this.disagreements());

    var download = el("button", {type: "button", className: "lpo-button lpo-primary lpo-download",
                                 text: "Download my judgements"});
    download.addEventListener("click", function () { self.download(); });
    var undo = el("button", {type: "button", className: "lpo-button lpo-undo", text: "Undo last answer"});
    undo.addEventListener("click", function () { self.undo(); });
    var again = el("button", {type: "button", className: "lpo-button lpo-restart", text: "Start again"});
    again.addEventListener("click", function () { self.begin(); });
    this.results.appendChild(el("div", {className: "lpo-actions"}, [download, undo, again]));
    this.results.appendChild(el("p", {className: "lpo-note", text: "The file holds the triplet ids, your " +
      "choices, your response times, a random session id and the set's version. It is saved on your " +
      "device only; this page sends nothing anywhere."}));
    download.focus({preventScroll: true});
    this.root.scrollIntoView({block: "start"});
  };

  Experiment.prototype.disagreements = function () {
    var set = this.set, self = this;
    var featured = set.metrics.filter(function (m) { return m.name === set.featured; })[0] || set.metrics[0];
    var against = this.answers.filter(function (a) {
      var p = pick(featured, a.index);
      return p !== null && p !== a.choice;
    }).map(function (a) {
      var d0 = featured.d0[a.index], d1 = featured.d1[a.index];
      return {answer: a, margin: Math.abs(d0 - d1) / Math.max(d0 + d1, 1e-12)};
    }).sort(function (a, b) { return b.margin - a.margin; }).slice(0, 4);
    var box = el("div", {className: "lpo-disagreements"});
    box.appendChild(el("h4", {text: "Where you and " + featured.label + " disagreed most"}));
    if (!against.length) {
      box.appendChild(el("p", {text: featured.label + " picked the same candidate as you every time."}));
      return box;
    }
    box.appendChild(el("p", {text: "The triplets where " + featured.label + " was surest of the other " +
      "answer (largest relative gap between its two distances):"}));
    var list = el("div", {className: "lpo-cases"});
    against.forEach(function (item) {
      var t = set.triplets[item.answer.index];
      var cells = ["p0", "ref", "p1"].map(function (role) {
        var label = role === "ref" ? "reference" : (role === "p0" ? "left: " : "right: ") + t[role];
        var mark = role === item.answer.choice ? " \u2014 you" : (role !== "ref" ? " \u2014 " + featured.name : "");
        return el("figure", {}, [el("img", {src: self.url(t.files[role]), width: "64", height: "64",
                                            alt: label + " (triplet " + t.id + ")"}),
                                 el("figcaption", {text: label + mark})]);
      });
      list.appendChild(el("div", {className: "lpo-case", "data-triplet": t.id}, cells));
    });
    box.appendChild(list);
    return box;
  };

  Experiment.prototype.record = function () {
    var set = this.set;
    return {
      format: set.judgement_format.format, format_version: set.judgement_format.format_version,
      set: set.set, set_version: set.version, session: this.session, created: this.started,
      judgements: this.answers.map(function (a) {
        return {triplet: set.triplets[a.index].id, choice: a.choice, ms: a.ms};
      }),
    };
  };

  Experiment.prototype.download = function () {
    var blob = new Blob([JSON.stringify(this.record(), null, 1) + "\n"], {type: "application/json"});
    var url = URL.createObjectURL(blob);
    var link = el("a", {href: url, download: "judgements-" + this.set.version + "-" +
                                             this.session.slice(0, 8) + ".json"});
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  };

  function init(root) {
    var folder = root.getAttribute("data-folder");
    fetch(folder + "set.json?v=" + root.getAttribute("data-version"))
      .then(function (response) {
        if (!response.ok) throw new Error("set.json: HTTP " + response.status);
        return response.json();
      })
      .then(function (set) { root.experiment = new Experiment(root, set); })
      .catch(function (error) {
        root.setAttribute("data-state", "error");
        root.textContent = "The experiment could not load its triplets (" + error.message + ").";
      });
  }

  Array.prototype.forEach.call(document.querySelectorAll(".lpips-observer"), init);
})();

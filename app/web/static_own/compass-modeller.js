// The modeller: bpmn-js draws the draft's diagram for editing, and a panel beside it edits what Compass's
// engine reads for the selected element: its name, form, handler and parameters, lane (the role that does
// the work), timer, condition, default flow and scripts. Saving is an ordinary form post of the diagram's XML,
// so the server checks it and the page comes back with each problem marked on its element.
//
// Everything comes from the page in data attributes: the XML, the problems by element id, and the forms,
// handlers and roles to choose from. No inline script or style, so the Content-Security-Policy holds.
(function () {
  "use strict";

  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  // What the engine reads in the spiffworkflow namespace, described for bpmn-js so it reads and writes them
  // as elements of their own (type names are the XML element names).
  var SPIFF_MODEL = {
    name: "SpiffWorkflow",
    uri: SPIFF,
    prefix: "spiffworkflow",
    types: [
      { name: "properties", superClass: ["Element"], properties: [{ name: "property", type: "property", isMany: true }] },
      {
        name: "property",
        superClass: ["Element"],
        properties: [
          { name: "name", isAttr: true, type: "String" },
          { name: "value", isAttr: true, type: "String" },
        ],
      },
      {
        name: "serviceTaskOperator",
        superClass: ["Element"],
        properties: [
          { name: "id", isAttr: true, type: "String" },
          { name: "resultVariable", isAttr: true, type: "String" },
          { name: "parameters", type: "parameters" },
        ],
      },
      { name: "parameters", superClass: ["Element"], properties: [{ name: "parameter", type: "parameter", isMany: true }] },
      {
        name: "parameter",
        superClass: ["Element"],
        properties: [
          { name: "id", isAttr: true, type: "String" },
          { name: "type", isAttr: true, type: "String" },
          { name: "value", isAttr: true, type: "String" },
        ],
      },
      { name: "preScript", superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] },
      { name: "postScript", superClass: ["Element"], properties: [{ name: "value", isBody: true, type: "String" }] },
    ],
  };

  var FORM = "formJsonSchemaFilename";
  var TEXT_PROPERTIES = [
    { name: "taskDue", label: "When it is due", hint: "An expression, for example working_days(1) or hours_from_now(4)." },
    { name: "taskSubject", label: "Who it is about", hint: 'An expression, for example child["name"].' },
    { name: "taskAssignee", label: "Named worker", hint: "An expression giving the username the task is for; leave empty for the lane's team." },
  ];

  var container = document.querySelector("[data-compass-modeller]");
  if (!container) {
    return;
  }
  var panel = document.getElementById("compass-properties");
  var form = document.getElementById("modeller-form");
  var xmlField = document.getElementById("modeller-xml");

  function readJson(name, fallback) {
    try {
      return JSON.parse(container.getAttribute(name) || "");
    } catch (err) {
      return fallback;
    }
  }

  if (typeof window.BpmnJS !== "function") {
    say(container, "The modeller did not load. Download the diagram, change it in another BPMN modeller and upload it below.");
    return;
  }

  var choices = readJson("data-choices", { forms: [], handlers: [], roles: [] });
  var marks = readJson("data-marks", {});
  container.replaceChildren();
  var modeler = new window.BpmnJS({ container: container, moddleExtensions: { spiffworkflow: SPIFF_MODEL } });
  var modeling = modeler.get("modeling");
  var moddle = modeler.get("moddle");
  var registry = modeler.get("elementRegistry");
  var selection = modeler.get("selection");
  var canvas = modeler.get("canvas");

  function say(where, text) {
    var message = document.createElement("p");
    message.className = "govuk-body";
    message.textContent = text;
    where.replaceChildren(message);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  // ---- reading and writing the extension elements -------------------------------------------------------

  function extensions(element, create) {
    var bo = element.businessObject;
    if (!bo.extensionElements && create) {
      modeling.updateProperties(element, { extensionElements: moddle.create("bpmn:ExtensionElements", { values: [] }) });
    }
    return bo.extensionElements;
  }

  function extension(element, type, create) {
    var ext = extensions(element, create);
    if (!ext) {
      return null;
    }
    var found = (ext.values || []).filter(function (v) {
      return v.$type === type;
    })[0];
    if (!found && create) {
      found = moddle.create(type);
      modeling.updateModdleProperties(element, ext, { values: (ext.values || []).concat([found]) });
    }
    return found || null;
  }

  function propertyValue(element, name) {
    var props = extension(element, "spiffworkflow:properties", false);
    var found = props && (props.property || []).filter(function (p) {
      return p.name === name;
    })[0];
    return found ? found.value || "" : "";
  }

  function setProperty(element, name, value) {
    var props = extension(element, "spiffworkflow:properties", true);
    var list = (props.property || []).filter(function (p) {
      return p.name !== name;
    });
    if (value) {
      list.push(moddle.create("spiffworkflow:property", { name: name, value: value }));
    }
    modeling.updateModdleProperties(element, props, { property: list });
  }

  function setScript(element, type, value) {
    var ext = extensions(element, true);
    var others = (ext.values || []).filter(function (v) {
      return v.$type !== type;
    });
    if (value) {
      others.push(moddle.create(type, { value: value }));
    }
    modeling.updateModdleProperties(element, ext, { values: others });
  }

  function scriptValue(element, type) {
    var found = extension(element, type, false);
    return found ? found.value || "" : "";
  }

  function is(element, type) {
    return element.businessObject && element.businessObject.$instanceOf && element.businessObject.$instanceOf(type);
  }

  // ---- the panel's fields ---------------------------------------------------------------------------------

  var fieldCount = 0;

  function group(label, hint, control) {
    fieldCount += 1;
    var id = "compass-field-" + fieldCount;
    var wrapper = el("div", { class: "govuk-form-group" });
    wrapper.appendChild(el("label", { class: "govuk-label govuk-label--s", for: id }, label));
    if (hint) {
      var hintId = id + "-hint";
      wrapper.appendChild(el("div", { class: "govuk-hint", id: hintId }, hint));
      control.setAttribute("aria-describedby", hintId);
    }
    control.id = id;
    wrapper.appendChild(control);
    return wrapper;
  }

  function textInput(label, hint, value, onChange) {
    var input = el("input", { class: "govuk-input", type: "text", spellcheck: "false" });
    input.value = value || "";
    input.addEventListener("change", function () {
      onChange(input.value.trim());
    });
    return group(label, hint, input);
  }

  function textArea(label, hint, value, onChange) {
    var area = el("textarea", { class: "govuk-textarea govuk-!-font-family-monospace", rows: "4", spellcheck: "false" });
    area.value = value || "";
    area.addEventListener("change", function () {
      onChange(area.value);
    });
    return group(label, hint, area);
  }

  function select(label, hint, options, value, onChange) {
    var box = el("select", { class: "govuk-select" });
    options.forEach(function (option) {
      var node = el("option", { value: option.value }, option.text);
      if (option.value === value) {
        node.selected = true;
      }
      box.appendChild(node);
    });
    if (value && !options.some(function (o) { return o.value === value; })) {
      // A value the lists do not know (a form not written yet, say) is kept and shown as it is.
      var unknown = el("option", { value: value }, value + " (not found)");
      unknown.selected = true;
      box.appendChild(unknown);
    }
    box.addEventListener("change", function () {
      onChange(box.value);
    });
    return group(label, hint, box);
  }

  function kindOf(element) {
    var type = element.type.replace("bpmn:", "");
    var words = {
      UserTask: "User task: a form someone fills in",
      ServiceTask: "Service task: Compass does it",
      ScriptTask: "Script task",
      ExclusiveGateway: "Gateway: one way out",
      ParallelGateway: "Gateway: every way out",
      InclusiveGateway: "Gateway: each way whose condition holds",
      SequenceFlow: "Flow between steps",
      Lane: "Lane: the role that does its steps",
      StartEvent: "Start",
      EndEvent: "End",
      BoundaryEvent: "Event on a step",
      IntermediateCatchEvent: "Waiting event",
      CallActivity: "Call of another process",
      SubProcess: "Subprocess",
    };
    return words[type] || type;
  }

  function problemsFor(id) {
    var list = marks[id] || [];
    if (!list.length) {
      return null;
    }
    var box = el("div", { class: "govuk-error-summary govuk-!-margin-bottom-4", role: "note" });
    box.appendChild(el("h3", { class: "govuk-error-summary__title govuk-!-font-size-19" }, "To put right"));
    var ul = el("ul", { class: "govuk-list govuk-error-summary__list" });
    list.forEach(function (message) {
      ul.appendChild(el("li", {}, message));
    });
    box.appendChild(ul);
    return box;
  }

  function timerDefinition(element) {
    var defs = element.businessObject.eventDefinitions || [];
    return defs.filter(function (d) {
      return d.$type === "bpmn:TimerEventDefinition";
    })[0];
  }

  function timerFields(element, definition) {
    var kind = definition.timeDate ? "timeDate" : definition.timeDuration ? "timeDuration" : "timeCycle";
    var body = (definition[kind] && definition[kind].body) || "";
    var nodes = [];
    function write(newKind, text) {
      var props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      props[newKind] = moddle.create("bpmn:FormalExpression", { body: text });
      modeling.updateModdleProperties(element, definition, props);
    }
    nodes.push(
      select(
        "The timer waits",
        null,
        [
          { value: "timeDate", text: "until a moment" },
          { value: "timeDuration", text: "for a length of time" },
        ],
        kind,
        function (value) {
          write(value, body);
          render(element);
        }
      )
    );
    nodes.push(
      textArea(
        "Expression",
        kind === "timeDate"
          ? "For example working_days(1), hours_from_now(4) or end_of_working_day()."
          : "An ISO 8601 length, in quotes: for example \"PT4H\" or \"P2D\".",
        body,
        function (value) {
          write(kind, value.trim());
        }
      )
    );
    // The working-day helper: the due moment counted in the council's working days, holidays skipped.
    var days = el("input", { class: "govuk-input govuk-input--width-3", type: "text", inputmode: "numeric" });
    var button = el("button", { type: "button", class: "govuk-button govuk-button--secondary govuk-!-margin-bottom-0" }, "Use working days");
    button.addEventListener("click", function () {
      var n = parseInt(days.value, 10);
      if (!(n >= 1 && n <= 60)) {
        days.classList.add("govuk-input--error");
        return;
      }
      write("timeDate", "working_days(" + n + ")");
      render(element);
    });
    var helper = group("Or: due after this many working days", "Weekends, bank holidays and the council's closure days are skipped.", days);
    helper.appendChild(button);
    nodes.push(helper);
    return nodes;
  }

  function conditionFields(element) {
    var bo = element.businessObject;
    var source = bo.sourceRef;
    var nodes = [];
    if (!source || !/Gateway$/.test(source.$type)) {
      return nodes;
    }
    var isDefault = source.default === bo;
    var check = el("input", { class: "govuk-checkboxes__input", type: "checkbox", id: "compass-default-flow" });
    check.checked = isDefault;
    check.addEventListener("change", function () {
      var gateway = registry.get(source.id);
      modeling.updateProperties(gateway, { default: check.checked ? bo : undefined });
      render(element);
    });
    var boxes = el("div", { class: "govuk-checkboxes govuk-checkboxes--small govuk-!-margin-bottom-4" });
    var item = el("div", { class: "govuk-checkboxes__item" });
    item.appendChild(check);
    item.appendChild(el("label", { class: "govuk-label govuk-checkboxes__label", for: "compass-default-flow" }, "The way taken when no condition holds (default)"));
    boxes.appendChild(item);
    nodes.push(boxes);
    if (!isDefault) {
      var condition = (bo.conditionExpression && bo.conditionExpression.body) || "";
      nodes.push(
        textArea("Condition", 'Taken when this holds, for example outcome == "referral".', condition, function (value) {
          modeling.updateProperties(element, {
            conditionExpression: value.trim() ? moddle.create("bpmn:FormalExpression", { body: value.trim() }) : undefined,
          });
        })
      );
    }
    return nodes;
  }

  function parameterFields(element, operator) {
    var nodes = [];
    var params = (operator.parameters && operator.parameters.parameter) || [];
    params.forEach(function (param, index) {
      nodes.push(
        textInput("Parameter " + (param.id || index + 1), "Its value, an expression (text in quotes).", param.value, function (value) {
          modeling.updateModdleProperties(element, param, { value: value });
        })
      );
    });
    var nameInput = el("input", { class: "govuk-input govuk-input--width-20", type: "text", spellcheck: "false" });
    var add = el("button", { type: "button", class: "govuk-button govuk-button--secondary govuk-!-margin-bottom-0" }, "Add a parameter");
    add.addEventListener("click", function () {
      var name = nameInput.value.trim();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        nameInput.classList.add("govuk-input--error");
        return;
      }
      var list = operator.parameters || moddle.create("spiffworkflow:parameters", { parameter: [] });
      if (!operator.parameters) {
        modeling.updateModdleProperties(element, operator, { parameters: list });
      }
      var added = moddle.create("spiffworkflow:parameter", { id: name, type: "str", value: '""' });
      modeling.updateModdleProperties(element, list, { parameter: (list.parameter || []).concat([added]) });
      render(element);
    });
    var group2 = group("New parameter's name", "Letters, digits and underscores.", nameInput);
    group2.appendChild(add);
    nodes.push(group2);
    return nodes;
  }

  function render(element) {
    fieldCount = 0;
    var nodes = [];
    var bo = element.businessObject;
    var heading = el("h2", { class: "govuk-heading-m", id: "properties-heading" }, bo.name || kindOf(element));
    nodes.push(heading);
    nodes.push(el("p", { class: "govuk-body-s" }, kindOf(element) + " · id " + bo.id));
    var problems = problemsFor(bo.id);
    if (problems) {
      nodes.push(problems);
    }
    if (is(element, "bpmn:Lane")) {
      nodes.push(
        select(
          "Role",
          "Who does the steps in this lane. Its tasks go to the team tray of this role.",
          [{ value: "", text: "Choose a role" }].concat(
            choices.roles.map(function (r) {
              return { value: r.id, text: r.name };
            })
          ),
          bo.name || "",
          function (value) {
            modeling.updateLabel(element, value);
          }
        )
      );
    } else if (!is(element, "bpmn:Process") && !is(element, "bpmn:Collaboration")) {
      nodes.push(
        textInput("Name", "What practitioners and managers see.", bo.name, function (value) {
          modeling.updateLabel(element, value);
          heading.textContent = value || kindOf(element);
        })
      );
    }
    if (is(element, "bpmn:UserTask")) {
      var current = propertyValue(element, FORM).replace(/\.json$/, "");
      nodes.push(
        select(
          "Form",
          "The form the task shows. New forms are made in the forms editor.",
          [{ value: "", text: "Choose a form" }].concat(
            choices.forms.map(function (f) {
              return { value: f, text: f };
            })
          ),
          current,
          function (value) {
            setProperty(element, FORM, value ? value + ".json" : "");
          }
        )
      );
      TEXT_PROPERTIES.forEach(function (p) {
        nodes.push(
          textInput(p.label, p.hint, propertyValue(element, p.name), function (value) {
            setProperty(element, p.name, value);
          })
        );
      });
    }
    if (is(element, "bpmn:ServiceTask")) {
      var operator = extension(element, "spiffworkflow:serviceTaskOperator", false);
      nodes.push(
        select(
          "Handler",
          "What Compass does at this step.",
          [{ value: "", text: "Choose a handler" }].concat(
            choices.handlers.map(function (h) {
              return { value: h, text: h };
            })
          ),
          operator ? operator.id || "" : "",
          function (value) {
            var op = extension(element, "spiffworkflow:serviceTaskOperator", true);
            modeling.updateModdleProperties(element, op, { id: value });
            render(element);
          }
        )
      );
      if (operator) {
        nodes.push(
          textInput("Result goes into", "The name the handler's result is kept under.", operator.resultVariable, function (value) {
            modeling.updateModdleProperties(element, operator, { resultVariable: value || undefined });
          })
        );
        nodes = nodes.concat(parameterFields(element, operator));
      }
    }
    if (is(element, "bpmn:ScriptTask")) {
      nodes.push(
        textArea("Script", "Python, run in Compass's sandbox.", bo.script, function (value) {
          modeling.updateProperties(element, { scriptFormat: "python", script: value });
        })
      );
    }
    if (is(element, "bpmn:Activity") && !is(element, "bpmn:SubProcess")) {
      nodes.push(
        textArea("Script before the step", null, scriptValue(element, "spiffworkflow:preScript"), function (value) {
          setScript(element, "spiffworkflow:preScript", value);
        })
      );
      nodes.push(
        textArea("Script after the step", null, scriptValue(element, "spiffworkflow:postScript"), function (value) {
          setScript(element, "spiffworkflow:postScript", value);
        })
      );
    }
    if (is(element, "bpmn:SequenceFlow")) {
      nodes = nodes.concat(conditionFields(element));
    }
    if (is(element, "bpmn:Event") && timerDefinition(element)) {
      nodes = nodes.concat(timerFields(element, timerDefinition(element)));
    }
    panel.replaceChildren.apply(panel, nodes);
  }

  function renderNothing() {
    panel.replaceChildren(
      el("h2", { class: "govuk-heading-m", id: "properties-heading" }, "Step"),
      el("p", { class: "govuk-body" }, "Select a step, a flow between steps, a gateway, an event or a lane on the diagram.")
    );
  }

  // ---- problems, selection, saving --------------------------------------------------------------------------

  function markProblems() {
    var overlays = modeler.get("overlays");
    Object.keys(marks).forEach(function (id) {
      if (!registry.get(id)) {
        return;
      }
      canvas.addMarker(id, "compass-problem");
      var badge = el("span", { class: "compass-problem-badge", title: marks[id].join(" ") }, String(marks[id].length) + " to put right");
      overlays.add(id, "compass-problems", { position: { top: -14, right: 10 }, html: badge });
    });
  }

  function selectById(id) {
    var element = registry.get(id);
    if (!element) {
      return false;
    }
    selection.select(element);
    canvas.scrollToElement(element);
    return true;
  }

  document.querySelectorAll("[data-select-element]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (selectById(link.getAttribute("data-select-element"))) {
        event.preventDefault();
        container.focus();
      }
    });
  });

  modeler.on("selection.changed", function (event) {
    var selected = event.newSelection || [];
    if (selected.length === 1) {
      render(selected[0]);
    } else {
      renderNothing();
    }
  });

  var sending = false;
  form.addEventListener("submit", function (event) {
    if (sending) {
      return;
    }
    event.preventDefault();
    modeler
      .saveXML({ format: true })
      .then(function (result) {
        xmlField.value = result.xml;
        sending = true;
        form.submit();
      })
      .catch(function () {
        say(panel, "The diagram could not be written out, so nothing was saved. Undo the last change and try again.");
      });
  });

  modeler
    .importXML(xmlField.value)
    .then(function () {
      canvas.zoom("fit-viewport", "auto");
      markProblems();
      container.setAttribute("data-ready", "true");
    })
    .catch(function () {
      say(container, "This diagram could not be drawn. Download it, put it right in another BPMN modeller and upload it below.");
      container.setAttribute("data-ready", "false");
    });

  // For the browser tests and anyone scripting the page: the modeller itself.
  window.compassModeler = modeler;
})();

// Draws the figures page's charts from the numbers the page carries in data attributes; the tables beside
// them hold the same numbers for anyone who cannot see a chart. Chart.js comes from npm (chart.umd.min.js).
const COLOURS = ["#1d70b8", "#f47738", "#00703c", "#4c2c92", "#d4351c"];

for (const canvas of document.querySelectorAll("canvas[data-series]")) {
  const horizontal = canvas.dataset.kind === "horizontal";
  const series = JSON.parse(canvas.dataset.series);
  // eslint-disable-next-line no-undef
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: JSON.parse(canvas.dataset.labels),
      datasets: series.map((s, i) => ({ ...s, backgroundColor: COLOURS[i % COLOURS.length] })),
    },
    options: {
      indexAxis: horizontal ? "y" : "x",
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { [horizontal ? "x" : "y"]: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
}

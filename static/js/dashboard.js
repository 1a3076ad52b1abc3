/* Dashboard: draw the sparklines of the latest runs (charts.js). */
MP.sparklines();

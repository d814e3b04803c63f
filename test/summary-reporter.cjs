// Prints the closing line CI reads: "N passed, N failed", from Jest's own results.
// A test file that fails to load counts as a failure, so a broken suite is never green.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stdout.write(`\n${results.numPassedTests} passed, ${failed} failed\n`);
  }
}
module.exports = SummaryReporter;

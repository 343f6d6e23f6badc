# Does stable-nalu's export read "solved at" in step order?  (issue 21, item 4)
#
# Runs the steps of stable-nalu's export/function_task_static_mul_range.r that compute
# "solved at" (its own expand.name, merge(eps), best.model.step.fn, first.solved.step,
# group_by + summarise) on curves of the range sweep's shape: the figure's 5 models x 7 range
# pairs x 50 seeds, 5,001 logged steps per run (0 ... 5e6), run names built as
# experiments/simple_function_static.py builds them, runs in a random order (the CSV export
# writes them as its worker pool finishes). The NMU runs of U[0,1] and U[-2,2] take measured
# curves (CURVES/<pair>_s<seed>.csv: step, interpolation, extrapolation; the lab's 2e6-step
# curves, held at their last value to 5e6); every other run is a step function whose first
# solve is known. For each random CSV order the script prints the NMU's "solved at" as the
# export computes it beside the true first step under the threshold.
#
#   Rscript workflows/research/solved_at_merge_order.R STABLE_NALU OUT.csv [CURVES] [SEEDS] [ORDERS]
#
# Needs R with plyr, dplyr, readr, tidyr (Debian: r-cran-plyr, r-cran-dplyr, r-cran-readr, r-cran-tidyr).

args = commandArgs(trailingOnly = TRUE)
stable.nalu = args[1]
out.file = args[2]
curves.dir = if (length(args) > 2 && nchar(args[3]) > 0) args[3] else NA
n.seeds = if (length(args) > 3) as.integer(args[4]) else 50
n.orders = if (length(args) > 4) as.integer(args[5]) else 3

suppressPackageStartupMessages({
  library(plyr)
  library(dplyr)
  library(readr)
  library(tidyr)
})
TeX = function(x) x  # latex2exp only labels the plots
library = function(...) invisible(NULL)
source(file.path(stable.nalu, 'export', '_function_task_expand_name.r'))
rm(library)

# the export's own definitions (export/function_task_static_mul_range.r)
best.range = 5000
best.model.step.fn = function (errors) {
  best.step = max(length(errors) - best.range, 0) + which.min(tail(errors, best.range))
  if (length(best.step) == 0) {
    return(length(errors))
  } else {
    return(best.step)
  }
}
first.solved.step = function (steps, errors, threshold) {
  index = first(which(errors < threshold))
  if (is.na(index)) {
    return(NA)
  } else {
    return(steps[index])
  }
}

steps = seq(0, 5000000, by = 1000)
models = c('nac-nac-n', 'posnac-nac-n', 'nalu', 'reregualizedlinearnac-nac-m', 'reregualizedlinearposnac-nac-n')
nmu = 'reregualizedlinearnac-nac-m'
ranges = data.frame(  # name parts, the label expand.name gives, the R-port threshold, the curve file prefix
  i = c('-2--1', '-2-2', '0-1', '0.1-0.2', '1-2', '1.1-1.2', '10-20'),
  e = c('-6--2', '[-6, -2]-[2, 6]', '1-5', '0.2-2', '2-6', '1.2-6', '20-40'),
  label = c('U[-6,-2]', 'U[-6,-2] ∪ U[2,6]', 'U[1,5]', 'U[0.2,2]', 'U[2,6]', 'U[1.2,6]', 'U[20,40]'),
  threshold = c(1, 0.00023054, 0.050761, 1, 0.16002, 1, 1),
  solve.at = c(1.45e6, NA, NA, 1.0e6, 1.45e6, NA, 1.7e6),  # step functions: first solve (NA: never)
  curves = c(NA, 'upm2', 'u01', NA, NA, NA, NA),
  stringsAsFactors = FALSE
)

run.name = function (model, r, seed, op = 'mul') {
  paste0(model, '_op-', op, '_oob-c_rs-linear-linear_eps-0_rl-1000000-2000000_r-10-0-1',
         '_i-', r$i, '_e-', r$e, '_z-100-0.25-0.5_b128_s', seed, '_h2_z2',
         # seeds 25-49 ran after the optimizer option (and its name part) was added
         if (seed >= 25) '_lr-adam-0.00100-0.0' else '')
}

measured = function (prefix, seed) {
  files = Sys.glob(file.path(curves.dir, paste0(prefix, '_s*.csv')))
  c = read_csv(files[seed %% length(files) + 1], show_col_types = FALSE)
  extra = approx(c$step, c$extrapolation, xout = steps, rule = 2)$y  # held at its last value
  extra[steps < min(c$step)] = Inf  # before the first logged step: not solved
  interp = approx(c$step, c$interpolation, xout = steps, rule = 2)$y
  list(extra = extra, interp = interp)
}

one.run = function (model, r, seed) {
  if (model == nmu && !is.na(r$curves) && !is.na(curves.dir)) {
    m = measured(r$curves, seed)
    extra = m$extra
    interp = m$interp
  } else {
    solved = if (model == nmu && !is.na(r$solve.at)) steps >= r$solve.at * exp(rnorm(1, 0, 0.1)) else FALSE
    extra = ifelse(solved, r$threshold * 1e-3, r$threshold * 10)
    interp = extra * (1 + runif(length(steps)))
  }
  data.frame(
    name = run.name(model, r, seed), step = steps, wall.time = 0,
    metric.valid.interpolation = interp, metric.test.extrapolation = extra, sparse.error.max = 0.1
  )
}

eps = data.frame(parameter = 'extrapolation.range', simple = FALSE, operation = 'op-mul',
                 extrapolation.range = ranges$label, threshold = ranges$threshold) %>%
  mutate(operation = revalue(operation, operation.full.to.short)) %>%
  select(operation, extrapolation.range, threshold)

results = list()
for (order in seq_len(n.orders)) {
  set.seed(order)
  runs = expand.grid(model = models, r = seq_len(nrow(ranges)), seed = seq_len(n.seeds) - 1,
                     stringsAsFactors = FALSE)
  runs = runs[sample(nrow(runs)), ]  # the CSV export writes runs as its worker pool finishes them
  csv = bind_rows(lapply(seq_len(nrow(runs)), function (k) one.run(runs$model[k], ranges[runs$r[k], ], runs$seed[k])))
  tmp = tempfile(fileext = '.csv')
  write_csv(csv, tmp)
  rm(csv)

  dat = expand.name(read_csv(tmp, show_col_types = FALSE)) %>%
    merge(eps) %>%
    mutate(parameter = interpolation.range)
  unlink(tmp)

  dat.last = dat %>%
    filter(model == 'NMU') %>%
    group_by(name, parameter) %>%
    summarise(
      threshold = last(threshold),
      best.model.step = best.model.step.fn(metric.valid.interpolation),
      extrapolation.step.solved = first.solved.step(step, metric.test.extrapolation, threshold),
      solved = replace_na(metric.test.extrapolation[best.model.step] < threshold, FALSE),
      in.step.order = !is.unsorted(step),
      true.step.solved = first.solved.step(sort(step), metric.test.extrapolation[order(step)], threshold),
      .groups = 'drop'
    )
  rm(dat)
  results[[order]] = dat.last %>%
    filter(solved) %>%
    group_by(parameter) %>%
    summarise(
      csv.order = order,
      solved = n(),
      runs.in.step.order = sum(in.step.order),
      true.mean = mean(true.step.solved),
      true.median = median(true.step.solved),
      export.mean = mean(extrapolation.step.solved),
      export.median = median(extrapolation.step.solved),
      .groups = 'drop'
    )
  print(as.data.frame(results[[order]]), digits = 4)
}
write_csv(bind_rows(results), out.file)

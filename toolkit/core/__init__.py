"""chartkit's core API: every operation a front door (CLI, tasks, broker, console, watcher) can run.

One operation per module, each an options dataclass plus a function over one ``toolkit.config.Config``; they
return dataclasses and raise errors from ``toolkit.errors``. Whatever a CLI user can do, a program can do by
calling these::

    from toolkit.config import resolve
    from toolkit.core.install import InstallOptions, install

    config = resolve(catalog="oci://registry.example/charts")
    install(config, InstallOptions(instance="staging", type_ref="chat@1.2.0", namespace="chat"))

    make a type     chartify · verify
    share it        package · publish · sync · deprecate · catalog (list / show / search)
    run instances   install · upgrade · upgrade_all · deploy · rollback · uninstall · recover
                    · rollout (rollout / promote / resume / abort / status) · bind (bind / unbind / bindings)
                    · policy (set_policy) · plan (make_plan / approve) · promote (rings) · guard
    observe         instances · history · outdated · drift (+ propose) · typediff · notices (one watcher pass)
                    · leader (the watcher's Lease) · describe (a type's page: README, parameters, plans)
                    · graph (graph / observe: who calls whom, measured)
    front doors     form (a deploy form from a type's schema, and its checked submission) · access (users, roles)

Each module is imported on its own (``toolkit.core.<operation>``): a command pays only for what it runs.
"""

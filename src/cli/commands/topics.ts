import type { Command } from 'commander'
import { config, describeTopicAction, ensurePayrailTopics, replicationNotes, say, warn } from '../context.ts'

export function registerTopics(program: Command): void {
  const topics = program.command('topics').description('manage the Kafka topics of payrail')
  topics
    .command('ensure')
    .description(
      "create missing topics, raise partition counts that are too low (never lowers one), set min.insync.replicas; reports each topic's replication",
    )
    .action(async () => {
      for (const action of await ensurePayrailTopics(config())) {
        if (action.action === 'grown') {
          warn(
            `${action.topic} had ${action.from} partitions; raised to ${action.partitions}, which moves keys to new partitions`,
          )
        }
        say(describeTopicAction(action))
        for (const note of replicationNotes(action)) (note.warning ? warn : say)(note.line)
      }
    })
}
